#include <polyprov/fleet_reader.hpp>

#include <map>

#include <polyprov/fleet_index.hpp>

namespace polyprov {

std::optional<FleetSnapshot> read_fleet(FleetCache& cache, UnixTime now, std::int64_t expire_seconds) {
    FleetSnapshot snapshot;
    const UnixTime cutoff = now - expire_seconds;
    std::string bytes;

    const auto dir_status = cache.get(node_directory_key(), bytes);
    if (dir_status == FleetCache::Status::failed) return std::nullopt;
    std::optional<NodeDirectory> dir;
    if (dir_status == FleetCache::Status::ok && !(dir = NodeDirectory::decode(bytes))) ++snapshot.unreadable;
    if (!dir) return snapshot;

    std::map<std::uint64_t, DeviceRecord> merged;
    for (const NodeEntry& node : dir->nodes()) {
        if (node.last_seen < cutoff) continue;
        snapshot.nodes.push_back(node.name);
        const NodeId id = node_id(node.name);
        for (std::size_t shard = 0; shard < kIndexShards; ++shard) {
            const auto status = cache.get(index_key(id, shard), bytes);
            if (status == FleetCache::Status::failed) return std::nullopt;
            if (status == FleetCache::Status::missing) continue;
            const auto index = IndexShard::decode(bytes);
            if (!index) {
                ++snapshot.unreadable;
                continue;
            }
            for (const IndexEntry& entry : index->entries()) {
                if (entry.last_seen < cutoff) continue;
                const auto record_status = cache.get(record_key(id, entry.mac), bytes);
                if (record_status == FleetCache::Status::failed) return std::nullopt;
                if (record_status == FleetCache::Status::missing) {
                    ++snapshot.missing;
                    continue;
                }
                auto record = decode_device_record(bytes);
                if (!record || record->mac != entry.mac) {
                    ++snapshot.unreadable;
                    continue;
                }
                auto at = merged.try_emplace(entry.mac.value(), entry.mac).first;
                merge(at->second, *record);
            }
        }
    }
    for (auto& [mac, record] : merged)
        if (seconds_of(record.last_activity()) >= cutoff) snapshot.records.push_back(std::move(record));
    return snapshot;
}

}  // namespace polyprov
