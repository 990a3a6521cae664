// Where the fleet lives in a cache that cannot list its keys (memcache,
// redis): each server ("node") writes only keys of its own, and a small
// directory names the nodes.
//
//   <s> "PPFN"                       the node directory, shared by every node
//   <s> "PPFS" <node id>             the node's summary: how many MACs each part
//                                    of its manifest counts, and what the cache
//                                    is known to have evicted
//   <s> "PPFM" <node id> <part>      one of 16 manifest parts: how many MACs each
//                                    of 64 index shards held when last written
//   <s> "PPFI" <node id> <shard>     the MACs this node has records for, one of
//                                    1,024 shards
//   <s> "PPFD" <node id> <MAC>       this node's record of a MAC (fleet_record.hpp)
//
// <s> is one byte that spreads the keys: mod_socache_shmcb picks the
// subcache by a key's first byte, so keys that all began alike would share
// one subcache (1/64 to 1/256 of the cache) and push each other out.
//
// A node's children serialise their writes with one lock (Apache's global
// mutex), so no write of a node's own keys is lost. Only the directory is
// written by several nodes; two that add themselves at the same moment may
// lose one addition, which each node repairs at its next flush, and a
// reader always counts its own node in.
//
// Never silently partial: a cache may evict any entry (shmcb is a ring that
// drops its oldest writes, memcached the least recently used). Each level
// counts the one below: the summary the manifest parts' MACs, a part its
// shards' MACs, a shard its records; the small entries above are rewritten
// with every change below them, so they are the newest a node has, and
// whatever the cache drops under them is counted as missing. Every shard
// is rewritten, with its records, at least once per sweep (FleetWriter),
// well within the entries' expiry: a counted shard that is gone was
// evicted, not expired, and a ring such as shmcb's keeps every live entry
// in its newest part.
//
// Capacity: 1,024 shards of at most 1,024 MACs each per node. MACs are
// spread over the shards by a hash; 100,000 devices put about 100 in a
// shard. Past a shard's 1,024 the device seen least recently in that shard
// leaves the view (logged, counted). MACs that never authenticated as listed
// devices (the refused list, which anyone with a certificate can fill with
// made-up CNs) hold at most 64 places in a shard and never displace a device.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/mac.hpp>
#include <polyprov/time_text.hpp>

namespace polyprov {

inline constexpr std::size_t kIndexShards = 1024;
inline constexpr std::size_t kShardCapacity = 1024;
inline constexpr std::size_t kManifestParts = 16;
inline constexpr std::size_t kShardsPerPart = kIndexShards / kManifestParts;
inline constexpr std::size_t kShardRefusedCapacity = 64;
inline constexpr std::size_t kMaxNodes = 32;
inline constexpr std::size_t kMaxNodeName = 128;

using NodeId = std::array<unsigned char, 8>;

// The first 8 bytes of the name's SHA-256.
NodeId node_id(std::string_view node_name);

std::size_t shard_of(Mac mac) noexcept;

std::string node_directory_key();
std::string summary_key(const NodeId& node);
std::string manifest_key(const NodeId& node, std::size_t part);
inline std::size_t part_of(std::size_t shard) noexcept { return shard / kShardsPerPart; }
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
    std::optional<Mac> displaced_refused;  // a refused-only MAC left to make room
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

// One part of a node's manifest: how many MACs each of its 64 shards held
// when last written.
class ManifestPart {
public:
    explicit ManifestPart(std::size_t part) noexcept : part_(part % kManifestParts) {}

    std::size_t part() const noexcept { return part_; }
    // By the shard's number in the whole index (part_of(shard) == part()).
    std::uint32_t count(std::size_t shard) const noexcept { return counts_[shard % kShardsPerPart]; }
    void set_count(std::size_t shard, std::size_t n) noexcept {
        counts_[shard % kShardsPerPart] = static_cast<std::uint32_t>(std::min(n, kShardCapacity));
    }
    std::uint64_t total() const noexcept;

    std::string encode() const;
    // Only the part `part`'s bytes, exactly as encode() writes them.
    static std::optional<ManifestPart> decode(std::size_t part, std::string_view bytes) noexcept;

private:
    std::size_t part_;
    std::array<std::uint32_t, kShardsPerPart> counts_{};
};

// A node's summary: the MACs each manifest part counts, and the index
// entries the cache is known to have evicted.
class NodeSummary {
public:
    std::uint64_t total(std::size_t part) const noexcept { return totals_[part % kManifestParts]; }
    void set_total(std::size_t part, std::uint64_t n) noexcept { totals_[part % kManifestParts] = n; }
    std::uint64_t total() const noexcept;

    // Index entries the cache lost (a shard or manifest part counted here
    // that it no longer held), added up since the summary was made, and
    // when the last was found. The MACs themselves are not known: they come
    // back when their devices next check in.
    std::uint64_t evicted() const noexcept { return evicted_; }
    UnixTime last_eviction() const noexcept { return last_eviction_; }
    void add_evicted(std::uint64_t n, UnixTime when) noexcept;

    // Requests the node could not record (its cache unreachable, or its
    // writers behind), as its writers last counted them: every node's page
    // says what the others missed.
    static constexpr std::uint64_t kMaxDropped = std::uint64_t{1} << 48;  // sums of 32 nodes stay exact
    std::uint64_t dropped() const noexcept { return dropped_; }
    void set_dropped(std::uint64_t n) noexcept { dropped_ = std::min(n, kMaxDropped); }

    std::string encode() const;
    static std::optional<NodeSummary> decode(std::string_view bytes) noexcept;

private:
    std::array<std::uint64_t, kManifestParts> totals_{};
    std::uint64_t evicted_ = 0;
    UnixTime last_eviction_ = 0;
    std::uint64_t dropped_ = 0;
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
