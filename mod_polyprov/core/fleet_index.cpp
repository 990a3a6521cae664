#include <polyprov/fleet_index.hpp>

#include <algorithm>

#include <openssl/sha.h>

#include "fleet_codec.hpp"

namespace polyprov {
namespace {

constexpr std::uint8_t kIndexKind = 'I';
constexpr std::uint8_t kDirectoryKind = 'N';
constexpr std::uint8_t kManifestKind = 'M';
constexpr std::uint8_t kSummaryKind = 'S';

std::string raw(const NodeId& id) { return std::string(reinterpret_cast<const char*>(id.data()), id.size()); }

std::uint64_t node_bits(const NodeId& id) {
    std::uint64_t v = 0;
    for (const unsigned char b : id) v = (v << 8) | b;
    return v;
}

// The key's first byte: the top byte of a multiplicative hash, so that
// shmcb's choice of subcache (the low bits of that byte) is spread evenly.
char spread(std::uint64_t v) { return static_cast<char>((v * 0x9E3779B97F4A7C15ull) >> 56); }

}  // namespace

NodeId node_id(std::string_view node_name) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(node_name.data()), node_name.size(), digest);
    NodeId id;
    std::copy_n(digest, id.size(), id.begin());
    return id;
}

std::size_t shard_of(Mac mac) noexcept {
    // Fibonacci hashing: the MACs of one vendor differ in their low bytes
    // only, and the multiplication spreads those over the top bits.
    static_assert(kIndexShards == 1024, "the shift takes the hash's top 10 bits");
    return static_cast<std::size_t>((mac.value() * 0x9E3779B97F4A7C15ull) >> 54);
}

// After the spreading byte, every key has "PPF" and a kind: the prefix
// keeps the fleet apart from anything else in a shared cache.
std::string node_directory_key() { return spread(kDirectoryKind) + std::string("PPFN"); }

std::string summary_key(const NodeId& node) { return spread(node_bits(node)) + std::string("PPFS") + raw(node); }

std::string manifest_key(const NodeId& node, std::size_t part) {
    part %= kManifestParts;
    return spread(node_bits(node) ^ ((part + 1) << 20)) + std::string("PPFM") + raw(node) + static_cast<char>(part);
}

std::string index_key(const NodeId& node, std::size_t shard) {
    shard %= kIndexShards;
    return spread(node_bits(node) ^ (shard + 1)) + std::string("PPFI") + raw(node) +
           static_cast<char>(shard >> 8) + static_cast<char>(shard & 0xFF);
}

std::string record_key(const NodeId& node, Mac mac) {
    detail::WireWriter w;
    w.u8(static_cast<std::uint8_t>(spread(node_bits(node) ^ (mac.value() << 16))));
    w.raw("PPFD");
    w.raw(raw(node));
    detail::write_mac(w, mac);
    return w.take();
}

// -------------------------------------------------------------- manifest

std::uint64_t ManifestPart::total() const noexcept {
    std::uint64_t n = 0;
    for (const std::uint32_t c : counts_) n += c;
    return n;
}

std::string ManifestPart::encode() const {
    detail::WireWriter w;
    w.u8(detail::kFleetFormat);
    w.u8(kManifestKind);
    w.u8(static_cast<std::uint8_t>(part_));
    for (const std::uint32_t c : counts_) w.varint(c);
    return w.take();
}

std::optional<ManifestPart> ManifestPart::decode(std::size_t part, std::string_view bytes) noexcept {
    detail::WireReader in(bytes);
    if (in.u8() != detail::kFleetFormat || in.u8() != kManifestKind || in.u8() != part || part >= kManifestParts)
        return std::nullopt;
    ManifestPart m(part);
    for (std::uint32_t& c : m.counts_) c = static_cast<std::uint32_t>(in.varint_max(kShardCapacity));
    if (!in.done()) return std::nullopt;
    return m;
}

std::uint64_t NodeSummary::total() const noexcept {
    std::uint64_t n = 0;
    for (const std::uint64_t t : totals_) n += t;
    return n;
}

void NodeSummary::add_evicted(std::uint64_t n, UnixTime when) noexcept {
    if (!n) return;
    evicted_ += n;
    last_eviction_ = std::max(last_eviction_, when);
}

std::string NodeSummary::encode() const {
    detail::WireWriter w;
    w.u8(detail::kFleetFormat);
    w.u8(kSummaryKind);
    for (const std::uint64_t t : totals_) w.varint(t);
    w.varint(evicted_);
    detail::write_time(w, last_eviction_);
    w.varint(dropped_);
    return w.take();
}

std::optional<NodeSummary> NodeSummary::decode(std::string_view bytes) noexcept {
    detail::WireReader in(bytes);
    if (in.u8() != detail::kFleetFormat || in.u8() != kSummaryKind) return std::nullopt;
    NodeSummary s;
    for (std::uint64_t& t : s.totals_) t = in.varint_max(kShardsPerPart * kShardCapacity);
    s.evicted_ = in.varint();
    s.last_eviction_ = detail::read_time(in);
    // A summary written before it counted dropped requests ends here; it
    // is read as it was (refusing it would reset its evictions).
    if (!in.done()) s.dropped_ = in.varint_max(kMaxDropped);
    if (!in.done()) return std::nullopt;
    return s;
}

// ----------------------------------------------------------------- index

IndexChange IndexShard::add(Mac mac, UnixTime last_seen, bool device) {
    IndexChange change;
    auto at = std::lower_bound(entries_.begin(), entries_.end(), mac,
                               [](const IndexEntry& e, Mac m) { return e.mac.value() < m.value(); });
    if (at != entries_.end() && at->mac == mac) {
        at->last_seen = std::max(at->last_seen, last_seen);
        at->device = at->device || device;
        return change;
    }

    const auto refused_count =
        static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(), [](const IndexEntry& e) { return !e.device; }));
    const auto oldest = [&](bool devices) {
        auto best = entries_.end();
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (it->device == devices && (best == entries_.end() || it->last_seen < best->last_seen)) best = it;
        return best;
    };
    if (!device && refused_count >= kShardRefusedCapacity) {
        // Refused-only MACs take turns in their own places.
        const auto victim = oldest(false);
        if (victim->last_seen > last_seen) {
            change.refused_dropped = true;
            return change;
        }
        change.displaced_refused = victim->mac;
        entries_.erase(victim);
    } else if (entries_.size() >= kShardCapacity) {
        auto victim = oldest(false);
        if (victim == entries_.end()) {
            if (!device) {
                change.refused_dropped = true;
                return change;
            }
            victim = oldest(true);
            change.evicted_device = victim->mac;
        } else {
            change.displaced_refused = victim->mac;
        }
        entries_.erase(victim);
    }
    at = std::lower_bound(entries_.begin(), entries_.end(), mac,
                          [](const IndexEntry& e, Mac m) { return e.mac.value() < m.value(); });
    entries_.insert(at, IndexEntry{mac, last_seen, device});
    return change;
}

void IndexShard::prune(UnixTime cutoff) {
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [&](const IndexEntry& e) { return e.last_seen < cutoff; }),
                   entries_.end());
}

std::string IndexShard::encode() const {
    detail::WireWriter w;
    w.u8(detail::kFleetFormat);
    w.u8(kIndexKind);
    w.varint(entries_.size());
    for (const IndexEntry& e : entries_) {
        detail::write_mac(w, e.mac);
        detail::write_time(w, e.last_seen);
        w.u8(e.device ? 1 : 0);
    }
    return w.take();
}

std::optional<IndexShard> IndexShard::decode(std::string_view bytes) noexcept {
    try {
        detail::WireReader in(bytes);
        if (in.u8() != detail::kFleetFormat || in.u8() != kIndexKind) return std::nullopt;
        const std::size_t n = in.varint_max(kShardCapacity);
        IndexShard shard;
        std::size_t refused = 0;
        for (std::size_t i = 0; i < n && in.ok(); ++i) {
            const auto mac = detail::read_mac(in);
            const UnixTime seen = detail::read_time(in);
            const std::uint8_t device = in.u8();
            if (!mac || device > 1) return std::nullopt;
            if (!shard.entries_.empty() && shard.entries_.back().mac.value() >= mac->value()) return std::nullopt;
            refused += device ? 0 : 1;
            shard.entries_.push_back({*mac, seen, device == 1});
        }
        if (!in.done() || refused > kShardRefusedCapacity) return std::nullopt;
        return shard;
    } catch (...) {
        return std::nullopt;
    }
}

// ----------------------------------------------------------------- nodes

void NodeDirectory::assert_node(std::string_view name, UnixTime now) {
    const std::string n = detail::capped(name, kMaxNodeName);
    auto at = std::lower_bound(nodes_.begin(), nodes_.end(), n, [](const NodeEntry& e, const std::string& k) { return e.name < k; });
    if (at != nodes_.end() && at->name == n) {
        at->last_seen = std::max(at->last_seen, now);
        return;
    }
    if (nodes_.size() >= kMaxNodes) {
        nodes_.erase(std::min_element(nodes_.begin(), nodes_.end(),
                                      [](const NodeEntry& a, const NodeEntry& b) { return a.last_seen < b.last_seen; }));
        at = std::lower_bound(nodes_.begin(), nodes_.end(), n, [](const NodeEntry& e, const std::string& k) { return e.name < k; });
    }
    nodes_.insert(at, NodeEntry{n, now});
}

void NodeDirectory::prune(UnixTime cutoff) {
    nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [&](const NodeEntry& e) { return e.last_seen < cutoff; }),
                 nodes_.end());
}

std::string NodeDirectory::encode() const {
    detail::WireWriter w;
    w.u8(detail::kFleetFormat);
    w.u8(kDirectoryKind);
    w.varint(nodes_.size());
    for (const NodeEntry& e : nodes_) {
        w.bytes(e.name);
        detail::write_time(w, e.last_seen);
    }
    return w.take();
}

std::optional<NodeDirectory> NodeDirectory::decode(std::string_view bytes) noexcept {
    try {
        detail::WireReader in(bytes);
        if (in.u8() != detail::kFleetFormat || in.u8() != kDirectoryKind) return std::nullopt;
        const std::size_t n = in.varint_max(kMaxNodes);
        NodeDirectory dir;
        for (std::size_t i = 0; i < n && in.ok(); ++i) {
            std::string name(in.bytes(kMaxNodeName));
            const UnixTime seen = detail::read_time(in);
            if (name.empty() || (!dir.nodes_.empty() && dir.nodes_.back().name >= name)) return std::nullopt;
            dir.nodes_.push_back({std::move(name), seen});
        }
        if (!in.done()) return std::nullopt;
        return dir;
    } catch (...) {
        return std::nullopt;
    }
}

}  // namespace polyprov
