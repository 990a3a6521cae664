#include <polyprov/fleet_writer.hpp>

#include <map>

namespace polyprov {

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
    if (asserted_.size() > 2 * kIndexShards * kShardCapacity) asserted_.clear();

    for (const auto& entry : to_index) {
        // Named, not a structured binding: C++17 lambdas cannot capture those.
        const std::size_t shard = entry.first;
        const std::vector<const DeviceRecord*>& deltas = entry.second;
        const auto status = cache.update(index_key(id_, shard), now + expire_, [&](const std::string* current) {
            std::optional<IndexShard> index;
            if (current && !(index = IndexShard::decode(*current))) ++report.unreadable;
            if (!index) index.emplace();
            index->prune(now - expire_);
            for (const DeviceRecord* d : deltas) {
                const IndexChange change = index->add(d->mac, seconds_of(d->last_activity()), d->is_device());
                if (change.evicted_device) report.evicted_devices.push_back(*change.evicted_device);
                if (change.refused_dropped) ++report.refused_dropped;
            }
            return std::optional<std::string>(index->encode());
        });
        if (status == FleetCache::Status::failed) {
            report.failed = true;
            return report;
        }
        for (const DeviceRecord* d : deltas) asserted_[d->mac.value()] = {now, d->is_device()};
    }
    return report;
}

}  // namespace polyprov
