// One server process's writes to the fleet cache: its pending records merged
// into the node's own, the node's index kept up and counted, the node listed
// in the directory (fleet_index.hpp says where each lives).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <polyprov/fleet_cache.hpp>
#include <polyprov/fleet_index.hpp>
#include <polyprov/fleet_record.hpp>

namespace polyprov {

// What a node's writers last counted in its summary, and when: kept where
// every process of the node sees it (shared memory in the module). A cache
// that loses everything at once (a restarted memcached) leaves no summary,
// no part and no shard to count the loss by; this is what remembers that
// there was something to lose.
struct NodeTally {
    std::atomic<std::uint64_t> total{0};
    std::atomic<UnixTime> at{0};
    // Requests the node's processes could not record: written into its
    // summary, for every node's page.
    std::atomic<std::uint64_t> dropped{0};

    // What it says at `now`, if recent enough to trust: a node that writes
    // at all rewrites its summary every sweep, far more often than half its
    // expiry, so a summary gone within that was lost, not expired.
    std::uint64_t recent(UnixTime now, std::int64_t expire) const noexcept {
        const UnixTime when = at.load();
        return when && now >= when && now - when <= expire / 2 ? total.load() : 0;
    }
};

struct FlushReport {
    bool failed = false;              // the cache stopped answering; the rest was not written
    std::size_t records_written = 0;
    std::size_t records_swept = 0;    // records rewritten as they were by a sweep
    std::size_t unreadable = 0;       // entries that did not decode and were replaced
    std::vector<Mac> evicted_devices; // left a full index shard
    std::size_t refused_dropped = 0;  // refused-only MACs with no room in their shard (no record written)
    // Index entries of this node that the cache evicted (a shard or a
    // manifest part counted and no longer held): it is too small.
    std::uint64_t cache_evicted = 0;
    std::size_t records_evicted = 0;  // records a swept shard named and the cache no longer held
    bool manifest_lost = false;       // the summary was gone while the index was not; rebuilt from it
};

class FleetWriter {
public:
    // How often a process re-asserts a MAC it indexed before, repairing an
    // index entry another writer may have overwritten: at most this, and at
    // most a quarter of the expiry. An index entry's time may so lag its
    // record's newest activity by up to this much, and every cut-off taken
    // by the index's time (prune, the reader, a swept record's expiry)
    // leaves that much room; the record's own time decides.
    static constexpr UnixTime kIndexRefresh = 600;
    static constexpr UnixTime kIndexSlack = kIndexRefresh + 60;
    // How often a process writes the directory and the node's summary when
    // nothing in them changed: often enough that a ring (shmcb) swept every
    // 30 s never comes round to them, seldom enough that their own rewrites
    // do not crowd the subcache they share with other entries.
    static constexpr UnixTime kRefresh = 10;

    // `tally` (may be null) is shared by every writer of the node.
    FleetWriter(std::string node_name, std::int64_t expire_seconds, NodeTally* tally = nullptr);

    // Merges each of `pending` (one record per MAC, built from this
    // process's events) into the node's record of that MAC and lists it in
    // the index (a refused-only MAC only if its shard has room for it: its
    // record is written after that is known, and the record of one it
    // displaces is removed, so made-up CNs cannot fill the cache); then rewrites each shard in `sweep` and every
    // record it names as they are (what a cache that drops its oldest
    // writes first would drop next is new again). Stops at the first cache
    // failure; the next flush after one re-asserts every MAC it indexes.
    FlushReport flush(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now,
                      const std::vector<std::size_t>& sweep = {});

    const std::string& node_name() const noexcept { return node_; }

    // Forgets what this writer asserted, so its next flush writes every
    // MAC's index entry again: after the cache may have lost everything (a
    // restarted memcached), even if this writer saw no failure itself.
    void forget() noexcept {
        asserted_.clear();
        directory_written_ = summary_written_ = 0;
    }

private:
    struct Asserted {
        UnixTime when;
        bool device;
    };
    // What the node's manifest says, for the shards a flush writes.
    struct Known {
        NodeSummary summary;
        std::map<std::size_t, ManifestPart> parts;
    };

    FlushReport write(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now,
                      const std::vector<std::size_t>& sweep);
    bool write_directory(FleetCache& cache, UnixTime now, FlushReport& report);
    // The summary and the parts named, as the cache holds them or rebuilt
    // from the level below when it holds none; nullopt when the cache failed.
    std::optional<Known> read_manifest(FleetCache& cache, const std::vector<std::size_t>& parts, UnixTime now,
                                       FlushReport& report);
    std::optional<ManifestPart> rebuild_part(FleetCache& cache, std::size_t part);
    FleetCache::Status write_record(FleetCache& cache, const DeviceRecord& delta, UnixTime now, FlushReport& report);
    // Which of the refused-only `deltas` their shard admits, found under
    // the node's lock exactly as the shard's update will find it.
    FleetCache::Status admit_refused(FleetCache& cache, std::size_t shard, std::vector<const DeviceRecord*>& deltas,
                                     UnixTime now, FlushReport& report);

    std::string node_;
    NodeId id_;
    std::int64_t expire_;
    NodeTally* tally_;
    UnixTime index_refresh_;
    std::unordered_map<std::uint64_t, Asserted> asserted_;  // MAC -> when this process last indexed it
    UnixTime directory_written_ = 0, summary_written_ = 0;
};

}  // namespace polyprov
