// The whole fleet as the status page shows it: every node's records of
// every MAC, merged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/fleet_cache.hpp>
#include <polyprov/fleet_record.hpp>
#include <polyprov/fleet_writer.hpp>

namespace polyprov {

struct FleetSnapshot {
    std::vector<DeviceRecord> records;  // one per MAC, sorted by MAC
    std::vector<std::string> nodes;     // the nodes whose records are in it
    std::size_t unreadable = 0;         // entries that did not decode (skipped)
    // What the cache lost, so the view is not complete. Each counts MACs a
    // node wrote and the cache no longer holds (a node's record of a MAC
    // that another node also saw counts once per node).
    std::size_t missing = 0;            // indexed records the cache no longer held
    std::size_t lost = 0;               // MACs of index shards the cache no longer held
    // Added up from the nodes' manifests: index entries the writers found
    // evicted (they return when their devices next check in), the latest.
    std::uint64_t evicted = 0;
    UnixTime last_eviction = 0;
    // An eviction was found within the view's expiry: a device evicted
    // then and not seen since is missing, and cannot be named.
    bool evicted_lately = false;
    std::size_t without_manifest = 0;   // nodes read without one: a lost shard could not be counted
    // Requests the nodes could not record, each as its summary last said
    // (the reader's own node as its writers count them now).
    std::uint64_t updates_dropped = 0;

    // Every MAC the nodes wrote and have not expired is in `records`.
    bool complete() const noexcept { return !missing && !lost && !unreadable && !without_manifest && !evicted_lately; }
};

// nullopt when the cache did not answer. Records with no activity within
// `expire_seconds` of `now` are left out. `own_node` is read even when the
// directory does not name it (lost, or not yet repaired); with its writers'
// `own_tally`, a summary of it gone with all it counted is counted `lost`.
std::optional<FleetSnapshot> read_fleet(FleetCache& cache, UnixTime now, std::int64_t expire_seconds,
                                        std::string_view own_node = {}, const NodeTally* own_tally = nullptr);

}  // namespace polyprov
