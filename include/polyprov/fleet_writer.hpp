// One server process's writes to the fleet cache: its pending records merged
// into the node's own, the node's index kept up, the node listed in the
// directory (fleet_index.hpp says where each lives).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <polyprov/fleet_cache.hpp>
#include <polyprov/fleet_index.hpp>
#include <polyprov/fleet_record.hpp>

namespace polyprov {

struct FlushReport {
    bool failed = false;              // the cache stopped answering; the rest was not written
    std::size_t records_written = 0;
    std::size_t unreadable = 0;       // entries that did not decode and were replaced
    std::vector<Mac> evicted_devices; // left a full index shard
    std::size_t refused_dropped = 0;  // refused-only MACs with no room in their shard
    // Index entries of this node that the cache evicted (a shard the
    // manifest counted and the cache no longer held): it is too small.
    std::uint64_t cache_evicted = 0;
    bool manifest_lost = false;       // the manifest was gone while the index was not; rebuilt from it
};

class FleetWriter {
public:
    // How often a process re-asserts what it wrote before, repairing the
    // directory or an index entry another writer may have overwritten.
    static constexpr UnixTime kDirectoryRefresh = 60;
    static constexpr UnixTime kIndexRefresh = 600;

    FleetWriter(std::string node_name, std::int64_t expire_seconds);

    // Merges each of `pending` (one record per MAC, built from this
    // process's events) into the node's record of that MAC, in order, and
    // lists it in the index. Stops at the first cache failure; the next
    // flush after one re-asserts the directory and every MAC it indexes.
    FlushReport flush(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now);

    const std::string& node_name() const noexcept { return node_; }

    // Forgets what this writer asserted, so its next flush writes the
    // directory and every MAC's index entry again: after the cache may have
    // lost everything (a restarted memcached), even if this writer saw no
    // failure itself.
    void forget() noexcept {
        directory_asserted_ = 0;
        asserted_.clear();
    }

private:
    struct Asserted {
        UnixTime when;
        bool device;
    };
    FlushReport write(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now);
    bool write_directory(FleetCache& cache, UnixTime now, FlushReport& report);
    // The manifest as the cache holds it, or rebuilt from the index when
    // the cache holds none; nullopt when the cache failed.
    std::optional<NodeManifest> read_manifest(FleetCache& cache, UnixTime now, FlushReport& report);

    std::string node_;
    NodeId id_;
    std::int64_t expire_;
    UnixTime directory_asserted_ = 0;
    std::unordered_map<std::uint64_t, Asserted> asserted_;  // MAC -> when this process last indexed it
};

}  // namespace polyprov
