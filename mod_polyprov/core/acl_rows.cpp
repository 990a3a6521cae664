#include <polyprov/acl_rows.hpp>

#include <algorithm>
#include <limits>
#include <unordered_map>

#include <polyprov/error.hpp>
#include <polyprov/printable.hpp>

#include "acl_table.hpp"

namespace polyprov {
namespace {

// The longest value a report quotes: a row may hold anything.
constexpr std::size_t kQuoted = 80;

std::string quoted(const std::string& value) {
    std::string text = printable(value.size() > kQuoted ? value.substr(0, kQuoted) : value);
    return value.size() > kQuoted ? text + "..." : text;
}

bool has_control(const std::string& text) noexcept {
    for (const unsigned char c : text)
        if (c < 0x20 || c == 0x7f) return true;   // labels end up in env vars and logs
    return false;
}

// A row that parsed.
struct Candidate {
    Mac mac;
    std::optional<Sha256> pin;
    std::size_t row;
};

}  // namespace

AclFromRows acl_from_rows(const std::vector<AclRow>& rows, const std::string& origin) {
    if (rows.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw Error(origin + ": more rows than a list can hold");
    AclFromRows out;
    const auto left_out = [&](std::size_t number, const std::string& value, std::string why) {
        out.problems.push_back(AclRowProblem{number, quoted(value), std::move(why)});
    };

    // First every row on its own, then each MAC over all its rows: a MAC
    // with a bad row is refused even where another row of it is good (a
    // LEFT JOIN can give a device one row with its pin and one without,
    // and the one without must not let it in unpinned), and so is a MAC
    // whose rows name different pins.
    std::vector<Candidate> candidates;
    candidates.reserve(rows.size());
    std::unordered_map<std::uint64_t, std::size_t> refused;   // MAC -> the bad row
    std::size_t number = 0;
    for (const AclRow& row : rows) {
        ++number;
        if (!row.mac) {
            left_out(number, "NULL", "the MAC is NULL");
            continue;
        }
        const auto mac = Mac::parse(*row.mac);
        if (!mac) {
            left_out(number, *row.mac, "not a MAC address (12 hex digits, or 00:04:f2:.., 00-04-F2-.., 0004.f2..)");
            continue;
        }
        // An empty label or pin column is an absent one: databases often
        // hold '' where a file would say nothing.
        std::optional<Sha256> pin;
        if (row.pin && !row.pin->empty()) {
            pin = parse_fingerprint(*row.pin);
            if (!pin) {
                left_out(number, *row.pin,
                         "not a SHA-256 pin (64 hex digits, colons between pairs allowed) for device " + mac->str());
                refused.try_emplace(mac->value(), number);
                continue;
            }
        }
        if (row.label && has_control(*row.label)) {
            left_out(number, *row.label, "the label of device " + mac->str() + " holds control characters");
            refused.try_emplace(mac->value(), number);
            continue;
        }
        candidates.push_back(Candidate{*mac, pin, number});
    }

    std::unordered_map<std::uint64_t, const Candidate*> kept;
    kept.reserve(candidates.size());
    for (const Candidate& c : candidates) {
        if (const auto bad = refused.find(c.mac.value()); bad != refused.end()) {
            left_out(c.row, *rows[c.row - 1].mac,
                     "device " + c.mac.str() + " refused: its row " + std::to_string(bad->second) + " was left out");
            continue;
        }
        const auto [first, added] = kept.try_emplace(c.mac.value(), &c);
        if (added) continue;
        if (first->second->pin == c.pin) {
            left_out(c.row, *rows[c.row - 1].mac,
                     "duplicate MAC " + c.mac.str() + ": row " + std::to_string(first->second->row) + " kept");
        } else {
            left_out(c.row, *rows[c.row - 1].mac, "duplicate MAC " + c.mac.str() + " with another pin than row " +
                                                      std::to_string(first->second->row) + ": device refused");
            refused.emplace(c.mac.value(), c.row);
        }
    }

    AclTableBuilder table(kept.size());
    for (const Candidate& c : candidates) {
        const auto k = kept.find(c.mac.value());
        if (k == kept.end() || k->second != &c || refused.count(c.mac.value())) continue;
        const AclRow& row = rows[c.row - 1];
        table.add(c.mac, row.label ? *row.label : std::string(), c.pin, static_cast<int>(c.row));
    }
    std::stable_sort(out.problems.begin(), out.problems.end(),
                     [](const AclRowProblem& a, const AclRowProblem& b) { return a.row < b.row; });
    auto bytes = std::make_shared<const std::string>(table.finish());
    const std::string_view view = *bytes;
    out.acl = std::make_shared<const Acl>(Acl::from_table(std::move(bytes), view, origin));
    return out;
}

}  // namespace polyprov
