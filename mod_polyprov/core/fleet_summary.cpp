#include <polyprov/fleet_summary.hpp>

namespace polyprov {
namespace {

std::optional<long> whole_number(std::string_view text, long min, long max) {
    if (text.empty() || text.size() > 9) return std::nullopt;
    long v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    if (v < min || v > max) return std::nullopt;
    return v;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A form field's value: '+' for a space, %XX for a byte. nullopt for a
// broken escape or a control character.
std::optional<std::string> form_value(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return std::nullopt;
        out += c;
    }
    return out;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool contains(std::string_view hay, std::string_view needle) {
    if (needle.size() > hay.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        std::size_t j = 0;
        while (j < needle.size() && lower(hay[i + j]) == needle[j]) ++j;
        if (j == needle.size()) return true;
    }
    return false;
}

}  // namespace

std::optional<FleetQuery> parse_fleet_query(std::string_view args, std::string& error) {
    FleetQuery q;
    while (!args.empty()) {
        const std::size_t amp = args.find('&');
        const std::string_view item = args.substr(0, amp);
        args = amp == std::string_view::npos ? std::string_view() : args.substr(amp + 1);
        const std::size_t eq = item.find('=');
        const std::string_view name = item.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
        if (name == "json") {
            q.format = FleetQuery::Format::json;
        } else if (name == "auto") {
            q.format = FleetQuery::Format::counters;
        } else if (name == "csv") {
            q.format = FleetQuery::Format::csv;
        } else if (name == "metrics") {
            q.format = FleetQuery::Format::metrics;
        } else if (name == "q") {
            const auto text = form_value(value);
            if (!text || text->size() > FleetQuery::kMaxSearch) {
                error = "q= takes text of at most 64 bytes, URL-encoded, without control characters";
                return std::nullopt;
            }
            q.search = *text;
        } else if (name == "page" || name == "per_page" || name == "offset" || name == "limit") {
            const long max = name == "per_page" ? static_cast<long>(FleetQuery::kMaxPerPage) : 100000000L;
            const auto v = whole_number(value, name == "offset" ? 0 : 1, max);
            if (!v) {
                error = std::string(name) + "= takes a whole number, " + (name == "offset" ? "0" : "1") + " to " +
                        std::to_string(max);
                return std::nullopt;
            }
            if (name == "page") q.page = static_cast<std::size_t>(*v);
            else if (name == "per_page") q.per_page = static_cast<std::size_t>(*v);
            else if (name == "offset") q.offset = static_cast<std::size_t>(*v);
            else q.limit = static_cast<std::size_t>(*v);
        } else if (name == "hours" || name == "days") {
            const bool hours = name == "hours";
            const auto v = whole_number(value, 1, hours ? 8760 : 3650);
            if (!v) {
                error = hours ? "hours= takes a whole number of hours, 1 to 8760"
                              : "days= takes a whole number of days, 1 to 3650";
                return std::nullopt;
            }
            (hours ? q.not_seen_hours : q.expiring_days) = static_cast<int>(*v);
        }
    }
    return q;
}

std::vector<const DeviceRecord*> select_devices(const FleetSnapshot& snapshot, std::string_view search) {
    std::string needle, mac_needle;
    for (const char c : search) {
        needle += lower(c);
        if (c != ':' && c != '-' && c != '.') mac_needle += lower(c);
    }
    std::vector<const DeviceRecord*> out;
    for (const DeviceRecord& r : snapshot.records) {
        if (!r.is_device()) continue;
        if (!needle.empty() && !(contains(r.mac.str(), mac_needle) && !mac_needle.empty()) &&
            !contains(r.latest.label, needle) && !contains(r.agent.model, needle) &&
            !contains(r.agent.firmware, needle) && !contains(r.latest.address, needle))
            continue;
        out.push_back(&r);
    }
    return out;
}

bool certificate_expired(const DeviceRecord& r, UnixTime now) noexcept {
    return r.latest.cert_expired || (r.latest.cert_not_after != 0 && r.latest.cert_not_after <= now);
}

bool certificate_expiring(const DeviceRecord& r, UnixTime now, int days) noexcept {
    return !certificate_expired(r, now) && r.latest.cert_not_after != 0 &&
           r.latest.cert_not_after <= now + static_cast<UnixTime>(days) * 86400;
}

FleetSummary summarize(const FleetSnapshot& snapshot, UnixTime now, const FleetQuery& query) {
    FleetSummary s;
    const UnixTime seen_cutoff = now - static_cast<UnixTime>(query.not_seen_hours) * 3600;
    for (const DeviceRecord& r : snapshot.records) {
        if (r.denials[static_cast<std::size_t>(FleetDecision::not_in_acl)] ||
            r.denials[static_cast<std::size_t>(FleetDecision::unverified)])
            ++s.refused;
        s.probes += r.probes.size();
        for (const Probe& p : r.probes) s.probe_requests += p.count;
        if (!r.is_device()) continue;
        ++s.devices;
        if (seconds_of(r.latest.time) < seen_cutoff) ++s.not_seen;
        if (certificate_expired(r, now)) {
            ++s.expired;
            if (carried_by_waiver(r)) ++s.expired_waived;
        } else if (certificate_expiring(r, now, query.expiring_days)) {
            ++s.expiring;
        }
        ++s.firmware[r.agent.firmware];
        ++s.models[r.agent.model];
    }
    return s;
}

}  // namespace polyprov
