#include <polyprov/fleet_summary.hpp>

namespace polyprov {
namespace {

std::optional<int> whole_number(std::string_view text, int min, int max) {
    if (text.empty() || text.size() > 6) return std::nullopt;
    int v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    if (v < min || v > max) return std::nullopt;
    return v;
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
        } else if (name == "hours" || name == "days") {
            const bool hours = name == "hours";
            const auto v = whole_number(value, 1, hours ? 8760 : 3650);
            if (!v) {
                error = hours ? "hours= takes a whole number of hours, 1 to 8760"
                              : "days= takes a whole number of days, 1 to 3650";
                return std::nullopt;
            }
            (hours ? q.not_seen_hours : q.expiring_days) = *v;
        }
    }
    return q;
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
