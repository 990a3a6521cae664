// What Prometheus scrapes from the status handler (?metrics): the server's
// own counters, added up over every process, and the fleet view's summary
// as gauges, in the text exposition format (version 0.0.4).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <polyprov/fleet_record.hpp>
#include <polyprov/fleet_render.hpp>

namespace polyprov {

// A reading of the server's counters. They count from `since` (the
// server's start, or a full restart; a graceful restart keeps them).
struct ServerCounters {
    std::array<std::uint64_t, kFleetDecisions> decisions{};   // requests by POLYPROV_DECISION
    std::uint64_t waived_handshakes = 0;   // handshakes that passed because an expiry was waived
    std::uint64_t uploads = 0;             // uploads stored (201, 204)
    std::uint64_t upload_bytes = 0;        // their bodies' bytes
    std::uint64_t fleet_updates_dropped = 0;   // decided requests the fleet view could not record
    std::uint64_t fleet_write_failures = 0;    // writes to the fleet cache that failed
    UnixTime since = 0;
};

// The fleet's part, when there is a fleet view for the host.
struct FleetMetrics {
    const FleetSnapshot* snapshot = nullptr;   // null: the cache does not answer
    const FleetSummary* summary = nullptr;
    const FleetPageContext* context = nullptr;
};

// The exposition. Without `fleet` (no PolyProvFleet for the host) only the
// counters; with a cache that does not answer, the counters and
// polyprov_fleet_cache_up 0. Every decision is listed, 0 or not, so that a
// rate() over it never starts from nothing.
std::string render_metrics(const ServerCounters& counters, const FleetMetrics* fleet);

// The Content-Type that names the format's version.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace polyprov
