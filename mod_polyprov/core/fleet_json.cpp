// The JSON and counters renderings of the fleet.

#include <polyprov/fleet_render.hpp>

#include <algorithm>

#include <polyprov/escape.hpp>

namespace polyprov {
namespace {

std::string time_or_null(UnixTime t) { return t ? "\"" + iso8601(t) + "\"" : "null"; }
std::string event_time_or_null(EventTime t) { return t ? time_or_null(seconds_of(t)) : "null"; }

std::string text_or_null(const std::string& s) { return s.empty() ? "null" : json_string(s); }

const char* boolean(bool b) { return b ? "true" : "false"; }

void device_json(std::string& out, const DeviceRecord& r, UnixTime now) {
    const DeviceFacts& f = r.latest;
    out += "{\"mac\":\"" + r.mac.str() + "\"";
    out += ",\"label\":" + text_or_null(f.label);
    out += ",\"first_seen\":" + event_time_or_null(r.first_seen);
    out += ",\"last_seen\":" + event_time_or_null(f.time);
    out += ",\"last_request\":{\"method\":" + text_or_null(f.request.method) +
           ",\"path\":" + text_or_null(f.request.path) +
           ",\"status\":" + (f.request.status ? std::to_string(f.request.status) : std::string("null")) +
           ",\"decision\":" + json_string(decision_text(f.request.decision)) + "}";
    out += ",\"last_config_fetch\":" + event_time_or_null(r.last_config_fetch);
    out += ",\"last_upload\":{\"time\":" + event_time_or_null(r.last_upload.time) + ",\"bytes\":" +
           (r.last_upload.bytes ? std::to_string(*r.last_upload.bytes) : std::string("null")) + "}";
    out += ",\"address\":" + text_or_null(f.address);
    out += ",\"user_agent\":" + text_or_null(f.user_agent);
    out += ",\"model\":" + text_or_null(r.agent.model);
    out += ",\"firmware\":" + text_or_null(r.agent.firmware);
    out += ",\"cert_not_after\":" + time_or_null(f.cert_not_after);
    out += std::string(",\"cert_expired\":") + boolean(certificate_expired(r, now));
    out += std::string(",\"waived\":") + boolean(f.waived);
    out += std::string(",\"pinned\":") + boolean(f.pinned);
    out += ",\"denials\":{";
    bool first = true;
    for (std::size_t i = 1; i < kFleetDecisions; ++i) {
        if (!r.denials[i]) continue;
        out += first ? "" : ",";
        out += "\"" + std::string(decision_reason(static_cast<FleetDecision>(i))) + "\":" + std::to_string(r.denials[i]);
        first = false;
    }
    out += "}}";
}

struct RefusedRow {
    const DeviceRecord* record;
    FleetDecision reason;
    const RefusalFacts* facts;
};

std::vector<RefusedRow> refused_rows(const FleetSnapshot& snapshot) {
    std::vector<RefusedRow> rows;
    for (const DeviceRecord& r : snapshot.records) {
        for (const FleetDecision d : {FleetDecision::not_in_acl, FleetDecision::unverified})
            if (r.denials[static_cast<std::size_t>(d)])
                rows.push_back({&r, d, d == FleetDecision::not_in_acl ? &r.not_in_acl : &r.unverified});
    }
    return rows;
}

}  // namespace

std::string render_fleet_json(const FleetSnapshot& snapshot, const FleetPageContext& context) {
    std::string out = "{\"generated\":\"" + iso8601(context.now) + "\",\"node\":" + json_string(context.node);
    out += ",\"devices\":[";
    bool first = true;
    for (const DeviceRecord& r : snapshot.records) {
        if (!r.is_device()) continue;
        out += first ? "\n" : ",\n";
        device_json(out, r, context.now);
        first = false;
    }
    out += "],\"refused\":[";
    first = true;
    for (const RefusedRow& row : refused_rows(snapshot)) {
        out += first ? "\n" : ",\n";
        out += "{\"mac\":\"" + row.record->mac.str() + "\",\"reason\":\"" + decision_reason(row.reason) +
               "\",\"count\":" + std::to_string(row.record->denials[static_cast<std::size_t>(row.reason)]) +
               ",\"last_seen\":" + event_time_or_null(row.facts->last_seen) +
               ",\"address\":" + text_or_null(row.facts->address) + "}";
        first = false;
    }
    out += "],\"probes\":[";
    first = true;
    for (const DeviceRecord& r : snapshot.records) {
        for (const Probe& p : r.probes) {
            out += first ? "\n" : ",\n";
            out += "{\"mac\":\"" + r.mac.str() + "\",\"address\":" + text_or_null(p.address) +
                   ",\"path\":" + text_or_null(p.path) + ",\"count\":" + std::to_string(p.count) +
                   ",\"last_seen\":" + event_time_or_null(p.last_seen) + "}";
            first = false;
        }
    }
    out += "]}\n";
    return out;
}

std::string render_fleet_counters(const FleetSnapshot& snapshot, const FleetSummary& s,
                                  const FleetPageContext& context) {
    std::string out;
    const auto line = [&](const char* name, std::uint64_t value) {
        out += name;
        out += ": " + std::to_string(value) + "\n";
    };
    line("Devices", s.devices);
    line("DevicesNotSeen", s.not_seen);
    line("NotSeenHours", static_cast<std::uint64_t>(context.query.not_seen_hours));
    line("CertificatesExpired", s.expired);
    line("CertificatesExpiredWaived", s.expired_waived);
    line("CertificatesExpiring", s.expiring);
    line("ExpiringDays", static_cast<std::uint64_t>(context.query.expiring_days));
    line("Refused", s.refused);
    line("Probes", s.probes);
    line("ProbeRequests", s.probe_requests);
    line("FirmwareVersions", static_cast<std::uint64_t>(std::count_if(
                                 s.firmware.begin(), s.firmware.end(), [](const auto& kv) { return !kv.first.empty(); })));
    line("Nodes", snapshot.nodes.size());
    line("UpdatesDropped", context.dropped_updates);
    line("RecordsMissing", snapshot.missing);
    line("RecordsUnreadable", snapshot.unreadable);
    line("CacheDown", context.cache_down ? 1 : 0);
    return out;
}

}  // namespace polyprov
