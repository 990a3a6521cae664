// Where the fleet lives in a cache that cannot list its keys (memcache,
// redis): each server ("node") writes only keys of its own, and a small
// directory names the nodes.
//
//   "PPFN"                      the node directory, shared by every node
//   "PPFI" <node id> <shard>    the MACs this node has records for, one of 64 shards
//   "PPFD" <node id> <MAC>      this node's record of a MAC (fleet_record.hpp)
//
// A node's children serialise their writes with one lock (Apache's global
// mutex), so no write of a node's own keys is lost. Only the directory is
// written by several nodes; two that add themselves at the same moment may
// lose one addition, which each node repairs by re-asserting itself a
// minute later.
//
// Capacity: 64 shards of 512 MACs each per node. MACs are spread over the
// shards by a hash; a fleet of 25,000 devices leaves every shard well below
// 512. Past a shard's 512 the device seen least recently in that shard
// leaves the view. MACs that never authenticated as listed devices (the
// refused list, which anyone with a certificate can fill with made-up CNs)
// hold at most 64 places in a shard and never displace a device.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/mac.hpp>
#include <polyprov/time_text.hpp>

namespace polyprov {

inline constexpr std::size_t kIndexShards = 64;
inline constexpr std::size_t kShardCapacity = 512;
inline constexpr std::size_t kShardRefusedCapacity = 64;
inline constexpr std::size_t kMaxNodes = 32;
inline constexpr std::size_t kMaxNodeName = 128;

using NodeId = std::array<unsigned char, 8>;

// The first 8 bytes of the name's SHA-256.
NodeId node_id(std::string_view node_name);

std::size_t shard_of(Mac mac) noexcept;

std::string node_directory_key();
std::string index_key(const NodeId& node, std::size_t shard);
std::string record_key(const NodeId& node, Mac mac);

struct IndexEntry {
    Mac mac;
    UnixTime last_seen;
    bool device;  // authenticated as a listed device at least once
};

// What adding one MAC to a full shard cost.
struct IndexChange {
    std::optional<Mac> evicted_device;  // a device left the view to make room
    bool refused_dropped = false;       // a refused-only MAC found no room
};

class IndexShard {
public:
    // Adds `mac` or refreshes its entry (a later time, the device flag).
    IndexChange add(Mac mac, UnixTime last_seen, bool device);
    // Drops entries last seen before `cutoff`.
    void prune(UnixTime cutoff);

    const std::vector<IndexEntry>& entries() const noexcept { return entries_; }

    std::string encode() const;
    // Exactly what encode() writes (sorted, unique MACs, within capacity);
    // nullopt for anything else.
    static std::optional<IndexShard> decode(std::string_view bytes) noexcept;

private:
    std::vector<IndexEntry> entries_;  // sorted by MAC
};

struct NodeEntry {
    std::string name;
    UnixTime last_seen;
};

class NodeDirectory {
public:
    // Adds or refreshes `name`; with kMaxNodes already listed, the node
    // seen least recently makes room.
    void assert_node(std::string_view name, UnixTime now);
    void prune(UnixTime cutoff);

    const std::vector<NodeEntry>& nodes() const noexcept { return nodes_; }

    std::string encode() const;
    static std::optional<NodeDirectory> decode(std::string_view bytes) noexcept;

private:
    std::vector<NodeEntry> nodes_;  // sorted by name
};

}  // namespace polyprov
