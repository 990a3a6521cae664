// What `polyprov fleet` makes of the status page's JSON: the summary, and
// the phones whose certificates run out.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <polyprov/json_reader.hpp>
#include <polyprov/time_text.hpp>

namespace polyprov {

struct ReportedDevice {
    std::string mac, label, model, firmware;
    std::optional<UnixTime> last_seen, cert_not_after;
    bool cert_expired = false, waived = false, pinned = false;
};

struct FleetReport {
    std::string node;
    std::optional<UnixTime> generated;
    std::vector<ReportedDevice> devices;
    std::size_t refused = 0;   // entries of "refused"
    std::size_t probes = 0;    // entries of "probes"
    std::uint64_t probe_requests = 0;
};

// Checks the document's shape as DESIGN.md states it (top-level fields,
// each device's types); nullopt with `error` naming what is wrong.
std::optional<FleetReport> read_fleet_report(const JsonValue& json, std::string& error);

struct ReportSummary {
    std::size_t devices = 0;
    std::size_t not_seen = 0;        // last seen more than the hours ago
    std::size_t expired = 0;
    std::size_t expired_waived = 0;  // ... whose last request the waiver let through
    std::size_t expiring = 0;        // not expired, expiring within the days
    std::map<std::string, std::size_t> firmware, models;  // "" for unknown
};

ReportSummary summarize_report(const FleetReport& report, UnixTime now, int not_seen_hours, int expiring_days);

struct ExpiringDevice {
    const ReportedDevice* device;
    bool expired;
    bool needs_attention;  // not carried by the expiry waiver
};

// Devices whose certificate has expired or expires within `days` of `now`,
// soonest first. One that expired and whose last request the waiver let
// through is listed but needs no attention; every other one does.
std::vector<ExpiringDevice> expiring_devices(const FleetReport& report, UnixTime now, int days);

}  // namespace polyprov
