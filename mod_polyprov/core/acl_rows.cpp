#include <polyprov/acl_rows.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

#include <polyprov/error.hpp>
#include <polyprov/printable.hpp>

#include "acl_table.hpp"

namespace polyprov {
namespace {

// The longest value a report quotes: a row may hold anything.
constexpr std::size_t kQuoted = 80;

std::string quoted(std::string_view value) {
    std::string text = printable(value.size() > kQuoted ? value.substr(0, kQuoted) : value);
    return value.size() > kQuoted ? text + "..." : text;
}

bool has_control(const char* text) noexcept {
    for (const unsigned char* c = reinterpret_cast<const unsigned char*>(text); *c; ++c)
        if (*c < 0x20 || *c == 0x7f) return true;   // labels end up in env vars and logs
    return false;
}

}  // namespace

void AclRowsBuilder::left_out(std::size_t row, const std::string& value, std::string why) {
    problems_.push_back(AclRowProblem{row, quoted(value), std::move(why)});
}

void AclRowsBuilder::add(const char* mac_column, const char* label, const char* pin_column) {
    const std::size_t number = ++rows_;
    if (!mac_column) {
        left_out(number, "NULL", "the MAC is NULL");
        return;
    }
    const auto mac = Mac::parse(mac_column);
    if (!mac) {
        left_out(number, mac_column, "not a MAC address (12 hex digits, or 00:04:f2:.., 00-04-F2-.., 0004.f2..)");
        return;
    }
    // An empty label or pin column is an absent one: databases often hold
    // '' where a file would say nothing. A device with a bad row is refused
    // whatever its other rows say (finish()).
    std::optional<Sha256> pin;
    if (pin_column && *pin_column) {
        pin = parse_fingerprint(pin_column);
        if (!pin) {
            left_out(number, pin_column,
                     "not a SHA-256 pin (64 hex digits, colons between pairs allowed) for device " + mac->str());
            refused_.try_emplace(mac->value(), number);
            return;
        }
    }
    if (label && has_control(label)) {
        left_out(number, label, "the label of device " + mac->str() + " holds control characters");
        refused_.try_emplace(mac->value(), number);
        return;
    }
    if (number > std::numeric_limits<std::uint32_t>::max() || labels_.size() > std::numeric_limits<std::uint32_t>::max())
        throw Error("more rows than a list can hold");
    Candidate c{*mac, static_cast<std::uint32_t>(number), 0, 0};
    if (label && *label) {
        c.label = static_cast<std::uint32_t>(labels_.size());
        labels_.append(label);
        labels_.push_back('\0');
    }
    if (pin) {
        pins_.push_back(*pin);
        c.pin = static_cast<std::uint32_t>(pins_.size());
    }
    candidates_.push_back(c);
}

AclFromRows AclRowsBuilder::finish(const std::string& origin) {
    // Each MAC over all its rows: a MAC with a bad row is refused even
    // where another row of it is good (a LEFT JOIN can give a device one
    // row with its pin and one without, and the one without must not let
    // it in unpinned), and so is a MAC whose rows name different pins.
    const auto same_pin = [&](const Candidate& a, const Candidate& b) {
        if (!a.pin || !b.pin) return a.pin == b.pin;
        return pins_[a.pin - 1] == pins_[b.pin - 1];
    };
    std::unordered_map<std::uint64_t, const Candidate*> kept;   // MAC -> its first good row
    kept.reserve(candidates_.size());
    std::unordered_map<std::uint64_t, bool> pins_differ;
    bool repeated = false;
    for (const Candidate& c : candidates_) {
        const auto [first, added] = kept.try_emplace(c.mac.value(), &c);
        repeated |= !added;
        if (!added && !same_pin(*first->second, c)) pins_differ[c.mac.value()] = true;
    }
    // An inventory as it should be (each MAC once, no bad row) is taken
    // whole, without looking each row up again.
    const bool every_row_kept = !repeated && refused_.empty();
    for (std::size_t i = 0; !every_row_kept && i < candidates_.size(); ++i) {
        const Candidate& c = candidates_[i];
        const Candidate& first = *kept[c.mac.value()];
        if (const auto bad = refused_.find(c.mac.value()); bad != refused_.end()) {
            left_out(c.row, c.mac.str(),
                     "device " + c.mac.str() + " refused: its row " + std::to_string(bad->second) + " was left out");
        } else if (pins_differ.count(c.mac.value())) {
            left_out(c.row, c.mac.str(), "device " + c.mac.str() + " refused: its rows name different pins");
        } else if (&first != &c) {
            left_out(c.row, c.mac.str(), "duplicate MAC " + c.mac.str() + ": row " + std::to_string(first.row) + " kept");
        }
    }

    AclTableBuilder table(kept.size());
    for (const Candidate& c : candidates_) {
        if (!every_row_kept) {
            const auto k = kept.find(c.mac.value());
            if (k == kept.end() || k->second != &c || refused_.count(c.mac.value()) || pins_differ.count(c.mac.value()))
                continue;
        }
        table.add(c.mac, std::string_view(labels_.data() + c.label),
                  c.pin ? std::optional<Sha256>(pins_[c.pin - 1]) : std::nullopt, static_cast<int>(c.row));
    }
    AclFromRows out;
    out.problems = std::move(problems_);
    std::stable_sort(out.problems.begin(), out.problems.end(),
                     [](const AclRowProblem& x, const AclRowProblem& y) { return x.row < y.row; });
    auto bytes = std::make_shared<const std::string>(table.finish());
    const std::string_view view = *bytes;
    out.acl = std::make_shared<const Acl>(Acl::from_table(std::move(bytes), view, origin));
    return out;
}

AclFromRows acl_from_rows(const std::vector<AclRow>& rows, const std::string& origin) {
    AclRowsBuilder builder;
    for (const AclRow& row : rows)
        builder.add(row.mac ? row.mac->c_str() : nullptr, row.label ? row.label->c_str() : nullptr,
                    row.pin ? row.pin->c_str() : nullptr);
    return builder.finish(origin);
}

}  // namespace polyprov
