// The whole fleet as the status page shows it: every node's records of
// every MAC, merged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <polyprov/fleet_cache.hpp>
#include <polyprov/fleet_record.hpp>

namespace polyprov {

struct FleetSnapshot {
    std::vector<DeviceRecord> records;  // one per MAC, sorted by MAC
    std::vector<std::string> nodes;     // the nodes whose records are in it
    std::size_t unreadable = 0;         // entries that did not decode (skipped)
    std::size_t missing = 0;            // indexed records the cache no longer held
};

// nullopt when the cache did not answer. Records with no activity within
// `expire_seconds` of `now` are left out.
std::optional<FleetSnapshot> read_fleet(FleetCache& cache, UnixTime now, std::int64_t expire_seconds);

}  // namespace polyprov
