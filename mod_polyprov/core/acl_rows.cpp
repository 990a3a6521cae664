#include <polyprov/acl_rows.hpp>

#include <limits>

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

}  // namespace

AclFromRows acl_from_rows(const std::vector<AclRow>& rows, const std::string& origin) {
    if (rows.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw Error(origin + ": more rows than a list can hold");
    AclFromRows out;
    AclTableBuilder table(rows.size());
    int number = 0;
    for (const AclRow& row : rows) {
        ++number;
        const auto left_out = [&](const std::string& value, std::string why) {
            out.problems.push_back(AclRowProblem{static_cast<std::size_t>(number), quoted(value), std::move(why)});
        };
        if (!row.mac) {
            left_out("NULL", "the MAC is NULL");
            continue;
        }
        const auto mac = Mac::parse(*row.mac);
        if (!mac) {
            left_out(*row.mac, "not a MAC address (12 hex digits, or 00:04:f2:.., 00-04-F2-.., 0004.f2..)");
            continue;
        }
        // An empty label or pin column is an absent one: databases often
        // hold '' where a file would say nothing.
        std::optional<Sha256> pin;
        if (row.pin && !row.pin->empty()) {
            pin = parse_fingerprint(*row.pin);
            if (!pin) {
                left_out(*row.pin, "not a SHA-256 pin (64 hex digits, colons between pairs allowed) for device " +
                                       mac->str());
                continue;
            }
        }
        const std::string label = row.label ? *row.label : std::string();
        if (has_control(label)) {
            left_out(label, "the label of device " + mac->str() + " holds control characters");
            continue;
        }
        if (const int first = table.add(*mac, label, pin, number))
            left_out(*row.mac, "duplicate MAC " + mac->str() + ": row " + std::to_string(first) + " kept");
    }
    auto bytes = std::make_shared<const std::string>(table.finish());
    const std::string_view view = *bytes;
    out.acl = std::make_shared<const Acl>(Acl::from_table(std::move(bytes), view, origin));
    return out;
}

}  // namespace polyprov
