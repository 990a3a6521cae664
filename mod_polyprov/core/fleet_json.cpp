// The JSON and counters renderings of the fleet.

#include <polyprov/fleet_render.hpp>

#include <algorithm>
#include <string_view>
#include <vector>

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
    const std::vector<const DeviceRecord*> devices = select_devices(snapshot, context.query.search);
    const std::size_t begin = std::min(context.query.offset, devices.size());
    const std::size_t end =
        context.query.limit ? begin + std::min(*context.query.limit, devices.size() - begin) : devices.size();
    std::string out;
    out.reserve(1024 + (end - begin) * 640);
    out += "{\"generated\":\"" + iso8601(context.now) + "\",\"node\":" + json_string(context.node);
    out += ",\"total\":" + std::to_string(devices.size()) + ",\"offset\":" + std::to_string(begin) + ",\"limit\":" +
           (context.query.limit ? std::to_string(*context.query.limit) : std::string("null"));
    out += std::string(",\"capacity\":{\"complete\":") + boolean(snapshot.complete()) +
           ",\"missing\":" + std::to_string(snapshot.missing) + ",\"lost\":" + std::to_string(snapshot.lost) +
           ",\"unreadable\":" + std::to_string(snapshot.unreadable) +
           ",\"nodes_without_manifest\":" + std::to_string(snapshot.without_manifest) +
           ",\"evicted\":" + std::to_string(snapshot.evicted) + ",\"last_eviction\":" + time_or_null(snapshot.last_eviction) +
           ",\"updates_dropped\":" + std::to_string(context.dropped_updates) +
           ",\"updates_dropped_fleet\":" + std::to_string(std::max(snapshot.updates_dropped, context.dropped_updates)) + "}";
    out += ",\"devices\":[";
    for (std::size_t i = begin; i < end; ++i) {
        out += i == begin ? "\n" : ",\n";
        device_json(out, *devices[i], context.now);
    }
    out += "],\"refused\":[";
    bool first = true;
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
    line("UpdatesDroppedFleet", std::max(snapshot.updates_dropped, context.dropped_updates));
    line("RecordsMissing", snapshot.missing);
    line("RecordsLost", snapshot.lost);
    line("RecordsUnreadable", snapshot.unreadable);
    line("RecordsEvicted", snapshot.evicted);
    line("Complete", snapshot.complete() ? 1 : 0);
    line("CacheDown", context.cache_down ? 1 : 0);
    return out;
}

namespace {

// One CSV field (RFC 4180). Text that a spreadsheet would take for a
// formula (a client's User-Agent, say) is prefixed with ' so it stays text.
void csv_field(std::string& out, const std::string& text) {
    std::string v;
    if (!text.empty() && std::string_view("=+-@\t\r").find(text[0]) != std::string_view::npos) v = "'";
    v += text;
    // ';' too: a spreadsheet in a locale that separates fields with it
    // would split the field, and a part could start with '='.
    if (v.find_first_of(",;\"\r\n") == std::string::npos) {
        out += v;
        return;
    }
    out += '"';
    for (const char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    out += '"';
}

std::string csv_time(EventTime t) { return t ? iso8601(seconds_of(t)) : std::string(); }

}  // namespace

std::string render_fleet_csv(const FleetSnapshot& snapshot, const FleetPageContext& context) {
    std::string out =
        "mac,label,model,firmware,first_seen,last_seen,last_method,last_path,last_status,last_decision,"
        "last_config_fetch,last_upload,last_upload_bytes,address,user_agent,cert_not_after,cert_expired,waived,"
        "pinned,denials\r\n";
    const auto devices = select_devices(snapshot, context.query.search);
    out.reserve(out.size() + devices.size() * 400);
    for (const DeviceRecord* r : devices) {
        const DeviceFacts& f = r->latest;
        std::string denials;
        for (std::size_t i = 1; i < kFleetDecisions; ++i)
            if (r->denials[i])
                denials += (denials.empty() ? "" : " ") + std::string(decision_reason(static_cast<FleetDecision>(i))) +
                           "=" + std::to_string(r->denials[i]);
        const std::string fields[] = {
            r->mac.str(), f.label, r->agent.model, r->agent.firmware, csv_time(r->first_seen), csv_time(f.time),
            f.request.method, f.request.path, f.request.status ? std::to_string(f.request.status) : std::string(),
            decision_text(f.request.decision), csv_time(r->last_config_fetch), csv_time(r->last_upload.time),
            r->last_upload.bytes ? std::to_string(*r->last_upload.bytes) : std::string(), f.address, f.user_agent,
            f.cert_not_after ? iso8601(f.cert_not_after) : std::string(),
            certificate_expired(*r, context.now) ? "true" : "false", f.waived ? "true" : "false",
            f.pinned ? "true" : "false", denials};
        bool first = true;
        for (const std::string& field : fields) {
            if (!first) out += ',';
            csv_field(out, field);
            first = false;
        }
        out += "\r\n";
    }
    return out;
}

}  // namespace polyprov
