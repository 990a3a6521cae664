#include <polyprov/server_metrics.hpp>

#include <algorithm>

#include <polyprov/fleet_summary.hpp>

namespace polyprov {
namespace {

class Exposition {
public:
    void family(const char* name, const char* type, const char* help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    // Label values here are the module's own words (decisions, numbers):
    // nothing a client sent, so nothing to escape.
    void sample(const char* name, std::uint64_t value, const std::string& labels = {}) {
        out_ += name;
        if (!labels.empty()) out_ += "{" + labels + "}";
        out_ += ' ';
        out_ += std::to_string(value);
        out_ += '\n';
    }
    void one(const char* name, const char* type, const char* help, std::uint64_t value,
             const std::string& labels = {}) {
        family(name, type, help);
        sample(name, value, labels);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

void counters_part(Exposition& e, const ServerCounters& c) {
    e.family("polyprov_decisions_total", "counter",
             "Requests the device check decided, by POLYPROV_DECISION, over every process of the server.");
    for (std::size_t i = 0; i < kFleetDecisions; ++i)
        e.sample("polyprov_decisions_total", c.decisions[i],
                 "decision=\"" + decision_text(static_cast<FleetDecision>(i)) + "\"");
    e.one("polyprov_waived_handshakes_total", "counter",
          "TLS handshakes that passed because PolyProvAcceptExpired waived an expired certificate.",
          c.waived_handshakes);
    e.one("polyprov_uploads_total", "counter", "Uploads (PUT) stored.", c.uploads);
    e.one("polyprov_upload_bytes_total", "counter", "Bytes of the uploads stored.", c.upload_bytes);
    e.one("polyprov_fleet_updates_dropped_total", "counter",
          "Decided requests the fleet view could not record (its cache was down, slow or full of work).",
          c.fleet_updates_dropped);
    e.one("polyprov_fleet_cache_write_failures_total", "counter", "Writes to the fleet cache that failed.",
          c.fleet_write_failures);
    e.one("polyprov_counters_reset_timestamp_seconds", "gauge",
          "When these counters started from zero: the server's start or its last full restart (a graceful "
          "restart keeps them).",
          static_cast<std::uint64_t>(std::max<UnixTime>(c.since, 0)));
}

void fleet_part(Exposition& e, const FleetMetrics& f) {
    e.one("polyprov_fleet_cache_up", "gauge", "1 when the fleet cache answered this scrape, 0 when it did not.",
          f.snapshot ? 1 : 0);
    if (!f.snapshot || !f.summary || !f.context) return;
    const FleetSnapshot& snap = *f.snapshot;
    const FleetSummary& s = *f.summary;
    const FleetQuery& q = f.context->query;
    e.one("polyprov_devices", "gauge", "Devices in the fleet view (authenticated as listed devices, not expired).",
          s.devices);
    e.one("polyprov_devices_not_seen", "gauge", "Devices not seen for the hours the label names.", s.not_seen,
          "hours=\"" + std::to_string(q.not_seen_hours) + "\"");
    e.one("polyprov_certificates_expired", "gauge", "Devices whose certificate has expired.", s.expired);
    e.one("polyprov_certificates_expired_waived", "gauge",
          "Devices with an expired certificate whose last request the expiry waiver carried.", s.expired_waived);
    e.one("polyprov_certificates_expiring", "gauge",
          "Devices whose certificate has not expired but expires within the days the label names.", s.expiring,
          "days=\"" + std::to_string(q.expiring_days) + "\"");
    e.one("polyprov_refused_devices", "gauge", "MACs refused as not on the allow-list or unverified.", s.refused);
    const auto probing = static_cast<std::uint64_t>(
        std::count_if(snap.records.begin(), snap.records.end(), [](const DeviceRecord& r) { return !r.probes.empty(); }));
    e.one("polyprov_probing_devices", "gauge", "Devices that asked for another device's files (mac-mismatch).",
          probing);
    e.one("polyprov_fleet_nodes", "gauge", "Nodes whose records are in the fleet view.", snap.nodes.size());
    e.one("polyprov_fleet_view_complete", "gauge",
          "1 when every record the nodes wrote and did not expire was read; 0 when the cache lost some.",
          snap.complete() ? 1 : 0);
    e.one("polyprov_fleet_records_evicted", "gauge",
          "Index entries the writers found evicted by the cache (the cache is too small for the fleet).",
          snap.evicted);
}

}  // namespace

std::string render_metrics(const ServerCounters& counters, const FleetMetrics* fleet) {
    Exposition e;
    counters_part(e, counters);
    if (fleet) fleet_part(e, *fleet);
    return e.take();
}

}  // namespace polyprov
