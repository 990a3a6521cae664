// The fleet as documents: JSON for monitoring (its fields are the contract
// in DESIGN.md), one-line counters for scrapers, and the operator's page.
// Every string that came from a client is escaped for its document.
#pragma once

#include <cstdint>
#include <string>

#include <polyprov/fleet_reader.hpp>
#include <polyprov/fleet_summary.hpp>

namespace polyprov {

struct FleetPageContext {
    std::string node;              // the server answering
    UnixTime now = 0;
    FleetQuery query;
    std::uint64_t dropped_updates = 0;  // events this server could not record (queue full, cache down)
    bool cache_down = false;            // this server's writer cannot reach the cache now
};

// {"generated", "node", "total", "offset", "limit", "capacity", "devices",
// "refused", "probes"}: the devices that match the query's search, from
// its offset, at most its limit of them (every one without a limit).
std::string render_fleet_json(const FleetSnapshot& snapshot, const FleetPageContext& context);

// The device table as CSV (a header line, then one line per device that
// matches the query's search), for a spreadsheet.
std::string render_fleet_csv(const FleetSnapshot& snapshot, const FleetPageContext& context);

// "Name: value" lines, as mod_status's ?auto.
std::string render_fleet_counters(const FleetSnapshot& snapshot, const FleetSummary& summary,
                                  const FleetPageContext& context);

// One self-contained HTML document: inline style and a few lines of script
// that sort the tables; nothing is fetched from anywhere.
std::string render_fleet_html(const FleetSnapshot& snapshot, const FleetSummary& summary,
                              const FleetPageContext& context);

// The page's Content-Security-Policy: nothing but its own inline style and
// script, by their SHA-256.
const std::string& fleet_page_csp();

}  // namespace polyprov
