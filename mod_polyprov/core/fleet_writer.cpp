#include <polyprov/fleet_writer.hpp>

#include <map>

namespace polyprov {
namespace {

// How many MACs a process remembers having indexed (about 40 bytes each).
constexpr std::size_t kMaxAsserted = 262144;

}  // namespace

FleetWriter::FleetWriter(std::string node_name, std::int64_t expire_seconds)
    : node_(std::move(node_name)), id_(node_id(node_)), expire_(expire_seconds) {}

bool FleetWriter::write_directory(FleetCache& cache, UnixTime now, FlushReport& report) {
    const auto status = cache.update(node_directory_key(), now + expire_, [&](const std::string* current) {
        std::optional<NodeDirectory> dir;
        if (current && !(dir = NodeDirectory::decode(*current))) ++report.unreadable;
        if (!dir) dir.emplace();
        dir->prune(now - expire_);
        dir->assert_node(node_, now);
        return std::optional<std::string>(dir->encode());
    });
    if (status == FleetCache::Status::failed) return false;
    directory_asserted_ = now;
    return true;
}

FlushReport FleetWriter::flush(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now) {
    FlushReport report = write(cache, pending, now);
    // The cache may come back empty (a restarted memcached): then the
    // directory and the index need everything again, at once.
    if (report.failed) forget();
    return report;
}

FlushReport FleetWriter::write(FleetCache& cache, const std::vector<DeviceRecord>& pending, UnixTime now) {
    FlushReport report;
    if (directory_asserted_ == 0 || now - directory_asserted_ >= kDirectoryRefresh || now < directory_asserted_) {
        if (!write_directory(cache, now, report)) {
            report.failed = true;
            return report;
        }
    }

    std::map<std::size_t, std::vector<const DeviceRecord*>> to_index;
    for (const DeviceRecord& delta : pending) {
        const auto status = cache.update(record_key(id_, delta.mac), now + expire_, [&](const std::string* current) {
            std::optional<DeviceRecord> record;
            if (current && !(record = decode_device_record(*current))) ++report.unreadable;
            if (!record || record->mac != delta.mac) {
                record.emplace(delta.mac);
            }
            merge(*record, delta);
            return std::optional<std::string>(encode(*record));
        });
        if (status == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
        ++report.records_written;
        const auto seen = asserted_.find(delta.mac.value());
        const bool stale = seen == asserted_.end() || now - seen->second.when >= kIndexRefresh ||
                           now < seen->second.when || (delta.is_device() && !seen->second.device);
        if (stale) to_index[shard_of(delta.mac)].push_back(&delta);
    }

    // A bound on memory: forgetting means re-asserting sooner, nothing worse.
    if (asserted_.size() > kMaxAsserted) asserted_.clear();
    if (to_index.empty()) return report;

    // What each shard held when last written: a shard the manifest counts
    // and the cache no longer holds was evicted, with every MAC it named.
    const std::optional<NodeManifest> known = read_manifest(cache, now, report);
    if (!known) {
        report.failed = true;
        return report;
    }
    std::map<std::size_t, std::size_t> written;  // shard -> MACs it now holds

    for (const auto& entry : to_index) {
        // Named, not a structured binding: C++17 lambdas cannot capture those.
        const std::size_t shard = entry.first;
        const std::vector<const DeviceRecord*>& deltas = entry.second;
        const auto status = cache.update(index_key(id_, shard), now + expire_, [&](const std::string* current) {
            std::optional<IndexShard> index;
            if (current && !(index = IndexShard::decode(*current))) ++report.unreadable;
            if (!current) report.cache_evicted += known->lost_if_missing(shard, now, expire_);
            if (!index) index.emplace();
            index->prune(now - expire_);
            for (const DeviceRecord* d : deltas) {
                const IndexChange change = index->add(d->mac, seconds_of(d->last_activity()), d->is_device());
                if (change.evicted_device) report.evicted_devices.push_back(*change.evicted_device);
                if (change.refused_dropped) ++report.refused_dropped;
            }
            written[shard] = index->entries().size();
            return std::optional<std::string>(index->encode());
        });
        if (status == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
        for (const DeviceRecord* d : deltas) asserted_[d->mac.value()] = {now, d->is_device()};
    }

    // Last, so that it is the newest entry this node has: a cache that
    // drops its oldest entries first loses a shard before the manifest
    // that counts it.
    const auto status = cache.update(manifest_key(id_), now + expire_, [&](const std::string* current) {
        std::optional<NodeManifest> manifest;
        if (current && !(manifest = NodeManifest::decode(*current))) ++report.unreadable;
        if (!manifest) manifest = known;
        for (const auto& [shard, n] : written) manifest->set_count(shard, n, now);
        manifest->add_evicted(report.cache_evicted, now);
        return std::optional<std::string>(manifest->encode());
    });
    if (status == FleetCache::Status::failed) report.failed = true;
    return report;
}

std::optional<NodeManifest> FleetWriter::read_manifest(FleetCache& cache, UnixTime now, FlushReport& report) {
    std::string bytes;
    const auto status = cache.get(manifest_key(id_), bytes);
    if (status == FleetCache::Status::failed) return std::nullopt;
    if (status == FleetCache::Status::ok) {
        if (auto manifest = NodeManifest::decode(bytes)) return manifest;
        ++report.unreadable;
    }
    // None yet (the node's first write), or lost: count what the index
    // holds. A shard lost together with the manifest cannot be counted.
    NodeManifest rebuilt;
    for (std::size_t shard = 0; shard < kIndexShards; ++shard) {
        const auto shard_status = cache.get(index_key(id_, shard), bytes);
        if (shard_status == FleetCache::Status::failed) return std::nullopt;
        if (shard_status == FleetCache::Status::missing) continue;
        const auto index = IndexShard::decode(bytes);
        if (!index) continue;
        rebuilt.set_count(shard, index->entries().size(), now);
        if (!index->entries().empty()) report.manifest_lost = true;
    }
    return rebuilt;
}

}  // namespace polyprov
