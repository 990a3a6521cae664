#include <polyprov/fleet_reader.hpp>

#include <algorithm>
#include <unordered_map>

#include <polyprov/fleet_index.hpp>
#include <polyprov/fleet_writer.hpp>

namespace polyprov {
namespace {

std::uint64_t add_capped(std::uint64_t a, std::uint64_t b) noexcept {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

class NodeReader {
public:
    NodeReader(FleetCache& cache, FleetSnapshot& snapshot, UnixTime now, std::int64_t expire)
        : cache_(cache), snapshot_(snapshot), now_(now), expire_(expire) {}

    // Adds the node's records to `merged`; false when the cache failed. A
    // node the directory does not list is read only through its summary.
    bool read(const std::string& node, bool listed, std::unordered_map<std::uint64_t, DeviceRecord>& merged) {
        const NodeId id = node_id(node);
        summary_found_ = false;
        entries_found_ = 0;
        lost_before_ = snapshot_.lost;
        const auto summary_status = cache_.get(summary_key(id), bytes_);
        if (summary_status == FleetCache::Status::failed) return false;
        std::optional<NodeSummary> summary;
        if (summary_status == FleetCache::Status::ok && !(summary = NodeSummary::decode(bytes_))) ++snapshot_.unreadable;
        summary_found_ = summary.has_value();
        summary_dropped_ = summary ? summary->dropped() : 0;
        if (summary) {
            snapshot_.evicted += summary->evicted();
            snapshot_.last_eviction = std::max(snapshot_.last_eviction, summary->last_eviction());
        } else if (!listed) {
            return true;
        }
        bool uncounted = false;  // something was found that no summary or part counted
        bool found_any = false;
        // The shards to read, with what their parts count (0: not counted).
        std::vector<std::size_t> shards;
        std::vector<std::uint32_t> counted;
        for (std::size_t p = 0; p < kManifestParts; ++p) {
            // With a summary, only the parts it counts: a small fleet costs
            // a few reads, not a thousand.
            if (summary && !summary->total(p)) continue;
            const auto status = cache_.get(manifest_key(id, p), bytes_);
            if (status == FleetCache::Status::failed) return false;
            std::optional<ManifestPart> part;
            if (status == FleetCache::Status::ok && !(part = ManifestPart::decode(p, bytes_))) ++snapshot_.unreadable;
            for (std::size_t shard = p * kShardsPerPart; shard < (p + 1) * kShardsPerPart; ++shard) {
                // Without its part, every shard of it is tried.
                if (part && !part->count(shard)) continue;
                shards.push_back(shard);
                counted.push_back(part ? part->count(shard) : 0);
            }
            if (!part) parts_missing_.push_back(p);
        }

        std::vector<std::string> keys;
        for (const std::size_t shard : shards) keys.push_back(index_key(id, shard));
        cache_.get_many(keys, statuses_, values_);
        std::vector<std::uint64_t> found(kManifestParts);
        std::vector<IndexEntry> entries;
        for (std::size_t i = 0; i < shards.size(); ++i) {
            if (statuses_[i] == FleetCache::Status::failed) return false;
            if (statuses_[i] == FleetCache::Status::missing) {
                snapshot_.lost += counted[i];
                continue;
            }
            const auto index = IndexShard::decode(values_[i]);
            if (!index) {
                ++snapshot_.unreadable;
                continue;
            }
            if (!counted[i] && !index->entries().empty()) uncounted = true;
            found[part_of(shards[i])] += index->entries().size();
            found_any = found_any || !index->entries().empty();
            entries_found_ += index->entries().size();
            entries.insert(entries.end(), index->entries().begin(), index->entries().end());
        }
        // A part gone: what the summary counted beyond what its shards still hold.
        for (const std::size_t p : parts_missing_)
            if (summary && summary->total(p) > found[p]) snapshot_.lost += summary->total(p) - found[p];
        parts_missing_.clear();
        if (!read_records(id, entries, merged)) return false;

        // Without its summary, a part lost with it would not be missed:
        // what was found may not be all.
        if (uncounted || (!summary && found_any)) ++snapshot_.without_manifest;
        return true;
    }

    // Of the last node read.
    bool summary_found() const noexcept { return summary_found_; }
    std::uint64_t entries_found() const noexcept { return entries_found_; }
    std::uint64_t summary_dropped() const noexcept { return summary_dropped_; }
    // Found, or counted lost already (a part that survived its summary).
    std::uint64_t accounted() const noexcept { return entries_found_ + (snapshot_.lost - lost_before_); }

private:
    bool read_records(const NodeId& id, const std::vector<IndexEntry>& entries,
                      std::unordered_map<std::uint64_t, DeviceRecord>& merged) {
        const UnixTime cutoff = now_ - expire_;
        std::vector<std::string> keys;
        std::vector<const IndexEntry*> named;
        keys.reserve(entries.size());
        for (const IndexEntry& entry : entries) {
            // By the record's own time, below; the index's may lag it.
            if (entry.last_seen < cutoff - FleetWriter::kIndexSlack) continue;
            keys.push_back(record_key(id, entry.mac));
            named.push_back(&entry);
        }
        cache_.get_many(keys, statuses_, values_);
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (statuses_[i] == FleetCache::Status::failed) return false;
            if (statuses_[i] == FleetCache::Status::missing) {
                // A record seen within the expiry cannot have expired.
                if (named[i]->last_seen >= cutoff) ++snapshot_.missing;
                continue;
            }
            auto record = decode_device_record(values_[i]);
            if (!record || record->mac != named[i]->mac) {
                ++snapshot_.unreadable;
                continue;
            }
            const auto [at, added] = merged.try_emplace(named[i]->mac.value(), std::move(*record));
            if (!added) merge(at->second, *record);
        }
        return true;
    }

    FleetCache& cache_;
    FleetSnapshot& snapshot_;
    UnixTime now_;
    std::int64_t expire_;
    std::string bytes_;
    std::vector<FleetCache::Status> statuses_;
    std::vector<std::string> values_;
    std::vector<std::size_t> parts_missing_;
    bool summary_found_ = false;
    std::uint64_t entries_found_ = 0;
    std::uint64_t summary_dropped_ = 0;
    std::size_t lost_before_ = 0;
};

}  // namespace

std::optional<FleetSnapshot> read_fleet(FleetCache& cache, UnixTime now, std::int64_t expire_seconds,
                                        std::string_view own_node, const NodeTally* own_tally) {
    FleetSnapshot snapshot;
    const UnixTime cutoff = now - expire_seconds;
    std::string bytes;

    const auto dir_status = cache.get(node_directory_key(), bytes);
    if (dir_status == FleetCache::Status::failed) return std::nullopt;
    std::optional<NodeDirectory> dir;
    if (dir_status == FleetCache::Status::ok && !(dir = NodeDirectory::decode(bytes))) ++snapshot.unreadable;
    if (!dir) dir.emplace();

    std::unordered_map<std::uint64_t, DeviceRecord> merged;
    NodeReader reader(cache, snapshot, now, expire_seconds);
    bool own_listed = false;
    std::uint64_t own_dropped = 0;
    // A cache emptied at once (a restarted memcached) holds nothing to count
    // the loss by: what the node's writers last counted does.
    const auto own_losses = [&] {
        const std::uint64_t remembered = own_tally ? own_tally->recent(now, expire_seconds) : 0;
        if (reader.summary_found() || remembered <= reader.accounted()) return false;
        snapshot.lost += remembered - reader.accounted();
        return true;
    };
    for (const NodeEntry& node : dir->nodes()) {
        if (node.last_seen < cutoff) continue;
        snapshot.nodes.push_back(node.name);
        if (!reader.read(node.name, true, merged)) return std::nullopt;
        if (node.name == own_node) {
            own_listed = true;
            own_losses();
            own_dropped = reader.summary_dropped();
        } else {
            snapshot.updates_dropped = add_capped(snapshot.updates_dropped, reader.summary_dropped());
        }
    }
    // The reader's own node counts even when the directory lost it.
    if (!own_node.empty() && !own_listed) {
        const std::size_t before = merged.size();
        if (!reader.read(std::string(own_node), false, merged)) return std::nullopt;
        if (own_losses() || merged.size() != before || snapshot.evicted) snapshot.nodes.emplace_back(own_node);
        own_dropped = reader.summary_dropped();
    }
    snapshot.updates_dropped = add_capped(snapshot.updates_dropped, own_tally ? own_tally->dropped.load() : own_dropped);
    snapshot.evicted_lately = snapshot.evicted && snapshot.last_eviction >= cutoff;
    snapshot.records.reserve(merged.size());
    for (auto& [mac, record] : merged)
        if (seconds_of(record.last_activity()) >= cutoff) snapshot.records.push_back(std::move(record));
    std::sort(snapshot.records.begin(), snapshot.records.end(),
              [](const DeviceRecord& a, const DeviceRecord& b) { return a.mac.value() < b.mac.value(); });
    return snapshot;
}

}  // namespace polyprov
