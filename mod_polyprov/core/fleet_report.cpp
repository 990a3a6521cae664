#include <polyprov/fleet_report.hpp>

#include <algorithm>

namespace polyprov {
namespace {

// A string, or null: "" for null.
bool text(const JsonValue* v, std::string& out) {
    if (!v) return false;
    if (v->is_null()) return true;
    if (!v->is_string()) return false;
    out = v->string();
    return true;
}

bool time_field(const JsonValue* v, std::optional<UnixTime>& out) {
    if (!v) return false;
    if (v->is_null()) return true;
    if (!v->is_string()) return false;
    out = parse_iso8601(v->string());
    return out.has_value();
}

bool flag(const JsonValue* v, bool& out) {
    if (!v || !v->is_bool()) return false;
    out = v->boolean();
    return true;
}

}  // namespace

std::optional<FleetReport> read_fleet_report(const JsonValue& json, std::string& error) {
    FleetReport report;
    const JsonValue* devices = json.get("devices");
    const JsonValue* refused = json.get("refused");
    const JsonValue* probes = json.get("probes");
    if (!json.is_object() || !text(json.get("node"), report.node) || !time_field(json.get("generated"), report.generated) ||
        !devices || !devices->is_array() || !refused || !refused->is_array() || !probes || !probes->is_array()) {
        error = "not the fleet JSON: expected an object with generated, node, devices, refused, probes";
        return std::nullopt;
    }
    for (std::size_t i = 0; i < devices->array().size(); ++i) {
        const JsonValue& d = devices->array()[i];
        ReportedDevice out;
        if (!d.is_object() || !text(d.get("mac"), out.mac) || out.mac.empty() || !text(d.get("label"), out.label) ||
            !text(d.get("model"), out.model) || !text(d.get("firmware"), out.firmware) ||
            !time_field(d.get("last_seen"), out.last_seen) || !time_field(d.get("cert_not_after"), out.cert_not_after) ||
            !flag(d.get("cert_expired"), out.cert_expired) || !flag(d.get("waived"), out.waived) ||
            !flag(d.get("pinned"), out.pinned)) {
            error = "devices[" + std::to_string(i) + "]: missing or mistyped field";
            return std::nullopt;
        }
        report.devices.push_back(std::move(out));
    }
    report.refused = refused->array().size();
    report.probes = probes->array().size();
    for (const JsonValue& p : probes->array()) {
        const JsonValue* count = p.get("count");
        if (count && count->is_number() && count->number() > 0) report.probe_requests += static_cast<std::uint64_t>(count->number());
    }
    return report;
}

ReportSummary summarize_report(const FleetReport& report, UnixTime now, int not_seen_hours, int expiring_days) {
    ReportSummary s;
    for (const ReportedDevice& d : report.devices) {
        ++s.devices;
        if (!d.last_seen || *d.last_seen < now - static_cast<UnixTime>(not_seen_hours) * 3600) ++s.not_seen;
        const bool expired = d.cert_expired || (d.cert_not_after && *d.cert_not_after <= now);
        if (expired) {
            ++s.expired;
            if (d.waived) ++s.expired_waived;
        } else if (d.cert_not_after && *d.cert_not_after <= now + static_cast<UnixTime>(expiring_days) * 86400) {
            ++s.expiring;
        }
        ++s.firmware[d.firmware];
        ++s.models[d.model];
    }
    return s;
}

std::vector<ExpiringDevice> expiring_devices(const FleetReport& report, UnixTime now, int days) {
    std::vector<ExpiringDevice> out;
    const UnixTime horizon = now + static_cast<UnixTime>(days) * 86400;
    for (const ReportedDevice& d : report.devices) {
        const bool expired = d.cert_expired || (d.cert_not_after && *d.cert_not_after <= now);
        if (!expired && !(d.cert_not_after && *d.cert_not_after <= horizon)) continue;
        out.push_back({&d, expired, !(expired && d.waived)});
    }
    std::stable_sort(out.begin(), out.end(), [](const ExpiringDevice& a, const ExpiringDevice& b) {
        return a.device->cert_not_after.value_or(0) < b.device->cert_not_after.value_or(0);
    });
    return out;
}

}  // namespace polyprov
