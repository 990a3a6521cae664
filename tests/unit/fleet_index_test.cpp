#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <polyprov/fleet_index.hpp>

#include "fleet_test_support.hpp"

using namespace polyprov;
using namespace polyprov::test;

namespace {

Mac nth(std::uint64_t i) {
    char hex[13];
    std::snprintf(hex, sizeof hex, "%012llX", static_cast<unsigned long long>(0x0004F2000000ull + i));
    return mac(hex);
}

}  // namespace

TEST(FleetIndex, ShardsSpreadAVendorsMacs) {
    // The reference promises room for 100,000 devices a node with room to
    // spare: consecutive MACs (one vendor's production run), and MACs drawn
    // at random from a few OUIs.
    constexpr std::size_t kFleet = 100000;
    std::vector<std::size_t> consecutive(kIndexShards), scattered(kIndexShards);
    std::mt19937_64 rng(42);
    const std::uint64_t ouis[] = {0x0004F2, 0x64167F, 0x482567, 0x00E0DB};
    for (std::size_t i = 0; i < kFleet; ++i) {
        ++consecutive[shard_of(nth(i))];
        char hex[13];
        std::snprintf(hex, sizeof hex, "%06llX%06llX", static_cast<unsigned long long>(ouis[rng() % 4]),
                      static_cast<unsigned long long>(rng() & 0xFFFFFF));
        ++scattered[shard_of(mac(hex))];
    }
    for (const auto* load : {&consecutive, &scattered}) {
        const std::size_t fullest = *std::max_element(load->begin(), load->end());
        EXPECT_LT(fullest, kShardCapacity / 4);
        std::cout << "[ info     ] 100,000 " << (load == &consecutive ? "consecutive" : "random") << " MACs: fullest shard "
                  << fullest << " of " << kShardCapacity << "\n";
    }
}

TEST(FleetIndex, KeysAreDistinctPerNodeAndMac) {
    const NodeId a = node_id("web1:443"), b = node_id("web2:443");
    EXPECT_NE(a, b);
    EXPECT_EQ(a, node_id("web1:443"));
    std::set<std::string> keys{node_directory_key(), summary_key(a),        summary_key(b),
                               manifest_key(a, 0),   manifest_key(a, 15),   manifest_key(b, 0),
                               index_key(a, 0),      index_key(a, 63),      index_key(a, 1023),
                               index_key(b, 0),      record_key(a, nth(1)), record_key(a, nth(2)),
                               record_key(b, nth(1))};
    EXPECT_EQ(keys.size(), 13u);
    for (const auto& k : keys) {
        EXPECT_LT(k.size(), 100u);  // memcache keys are hex, at most 250 bytes
        EXPECT_GE(k.size(), 4u);    // shmcb refuses shorter ids
    }
}

TEST(FleetIndex, KeysSpreadOverShmcbsSubcaches) {
    // mod_socache_shmcb picks one of up to 256 subcaches by the low bits of
    // a key's first byte. Keys that began alike shared one subcache, and a
    // 2 MB cache held 37 of 80 phones.
    std::vector<std::size_t> records(256), shards(256);
    const NodeId a = node_id("web1:443");
    for (std::size_t i = 0; i < 100000; ++i) ++records[static_cast<unsigned char>(record_key(a, nth(i))[0])];
    for (std::size_t shard = 0; shard < kIndexShards; ++shard)
        ++shards[static_cast<unsigned char>(index_key(a, shard)[0])];
    const auto [least, most] = std::minmax_element(records.begin(), records.end());
    EXPECT_GT(*least, 100000u / 256 / 2);
    EXPECT_LT(*most, 100000u / 256 * 2);
    EXPECT_LE(*std::max_element(shards.begin(), shards.end()), kIndexShards / 256 * 3);
    std::vector<std::size_t> parts(256);
    for (std::size_t p = 0; p < kManifestParts; ++p) ++parts[static_cast<unsigned char>(manifest_key(a, p)[0])];
    EXPECT_LE(*std::max_element(parts.begin(), parts.end()), 2u);  // a node's parts in different subcaches
    for (const auto& k : {node_directory_key(), summary_key(a), manifest_key(a, 3), index_key(a, 5), record_key(a, nth(5))})
        EXPECT_EQ(k.substr(1, 3), "PPF");
}

TEST(FleetIndex, ManifestAndSummaryRoundTripAndRefuseGarbage) {
    ManifestPart m(15);
    m.set_count(15 * kShardsPerPart, 17);
    m.set_count(1023, 1024);
    const auto back = ManifestPart::decode(15, m.encode());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->count(15 * kShardsPerPart), 17u);
    EXPECT_EQ(back->count(1023), 1024u);
    EXPECT_EQ(back->total(), 1041u);
    EXPECT_EQ(back->encode(), m.encode());
    EXPECT_FALSE(ManifestPart::decode(14, m.encode()));  // another part's bytes
    const std::string bytes = m.encode();
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) EXPECT_FALSE(ManifestPart::decode(15, bytes.substr(0, cut)));
    EXPECT_FALSE(ManifestPart::decode(15, bytes + "x"));
    EXPECT_FALSE(IndexShard::decode(bytes));

    NodeSummary s;
    s.set_total(0, 5);
    s.set_total(15, 65536);
    s.add_evicted(5, 3000);
    s.add_evicted(2, 2500);
    const auto summary = NodeSummary::decode(s.encode());
    ASSERT_TRUE(summary);
    EXPECT_EQ(summary->total(), 65541u);
    EXPECT_EQ(summary->evicted(), 7u);
    EXPECT_EQ(summary->last_eviction(), 3000);
    EXPECT_EQ(summary->encode(), s.encode());
    s.set_dropped(300);
    const std::string sb = s.encode();
    EXPECT_EQ(NodeSummary::decode(sb)->dropped(), 300u);
    // The layout before `dropped` (2 bytes of varint here) is read as it was.
    const auto earlier = NodeSummary::decode(sb.substr(0, sb.size() - 2));
    ASSERT_TRUE(earlier);
    EXPECT_EQ(earlier->evicted(), 7u);
    EXPECT_EQ(earlier->dropped(), 0u);
    for (std::size_t cut = 0; cut < sb.size(); ++cut) {
        if (cut != sb.size() - 2) {
            EXPECT_FALSE(NodeSummary::decode(sb.substr(0, cut))) << cut;
        }
    }
    EXPECT_FALSE(NodeSummary::decode(sb + "x"));
    EXPECT_FALSE(ManifestPart::decode(0, sb));
    // Small: rewritten in every flush, they must not crowd the cache.
    EXPECT_LT(m.encode().size(), 200u);
    EXPECT_LT(s.encode().size(), 100u);
}

TEST(FleetIndex, AddRefreshesAndKeepsOrder) {
    IndexShard s;
    s.add(nth(5), 100, false);
    s.add(nth(1), 50, true);
    s.add(nth(5), 200, true);
    s.add(nth(5), 150, false);
    ASSERT_EQ(s.entries().size(), 2u);
    EXPECT_EQ(s.entries()[0].mac, nth(1));
    EXPECT_EQ(s.entries()[1].last_seen, 200);
    EXPECT_TRUE(s.entries()[1].device);  // once a device, always a device
    s.prune(100);
    ASSERT_EQ(s.entries().size(), 1u);
    EXPECT_EQ(s.entries()[0].mac, nth(5));
}

TEST(FleetIndex, AFullShardDropsItsLeastRecentDevice) {
    IndexShard s;
    for (std::size_t i = 0; i < kShardCapacity; ++i) EXPECT_FALSE(s.add(nth(i), 1000 + i, true).evicted_device);
    const IndexChange change = s.add(nth(9999), 5000, true);
    ASSERT_TRUE(change.evicted_device);
    EXPECT_EQ(*change.evicted_device, nth(0));
    EXPECT_EQ(s.entries().size(), kShardCapacity);
}

TEST(FleetIndex, RefusedMacsNeverDisplaceDevices) {
    IndexShard s;
    for (std::size_t i = 0; i < kShardCapacity; ++i) s.add(nth(i), 1000, true);
    EXPECT_TRUE(s.add(nth(9999), 5000, false).refused_dropped);
    EXPECT_EQ(s.entries().size(), kShardCapacity);
    for (const auto& e : s.entries()) EXPECT_TRUE(e.device);
}

TEST(FleetIndex, RefusedMacsTakeTurnsInTheirOwnPlaces) {
    IndexShard s;
    for (std::size_t i = 0; i < 10; ++i) s.add(nth(100000 + i), 1000, true);
    // A flood of made-up CNs: the refused places cycle, the devices stay.
    std::size_t displaced = 0;
    for (std::size_t i = 0; i < 10 * kShardRefusedCapacity; ++i) {
        const IndexChange change = s.add(nth(i), 2000 + i, false);
        // Each one past the places pushes out the oldest, and says which.
        if (i >= kShardRefusedCapacity) {
            ASSERT_TRUE(change.displaced_refused);
            EXPECT_EQ(*change.displaced_refused, nth(i - kShardRefusedCapacity));
            ++displaced;
        }
    }
    EXPECT_EQ(displaced, 9 * kShardRefusedCapacity);
    std::size_t devices = 0, refused = 0;
    for (const auto& e : s.entries()) (e.device ? devices : refused)++;
    EXPECT_EQ(devices, 10u);
    EXPECT_EQ(refused, kShardRefusedCapacity);
    // The newest refused MACs are the ones kept.
    EXPECT_EQ(s.entries().back().mac, nth(100009));
    EXPECT_TRUE(std::any_of(s.entries().begin(), s.entries().end(),
                            [](const IndexEntry& e) { return e.mac == nth(10 * kShardRefusedCapacity - 1); }));
    // A device still gets in, taking a refused place when the shard is full.
    for (std::size_t i = 0; i < kShardCapacity; ++i) s.add(nth(200000 + i), 3000, true);
    EXPECT_EQ(s.entries().size(), kShardCapacity);
}

TEST(FleetIndex, ShardBytesAreStrict) {
    IndexShard s;
    for (std::size_t i = 0; i < 20; ++i) s.add(nth(i * 7), 1000 + i, i % 3 == 0);
    const std::string bytes = s.encode();
    const auto back = IndexShard::decode(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->encode(), bytes);
    for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(IndexShard::decode(bytes.substr(0, n)));
    EXPECT_FALSE(IndexShard::decode(bytes + "x"));
    // Two entries swapped: unsorted input is refused.
    std::string swapped = bytes;
    std::rotate(swapped.begin() + 3, swapped.begin() + 3 + 9, swapped.begin() + 3 + 18);  // 9 bytes an entry
    EXPECT_FALSE(IndexShard::decode(swapped));
    EXPECT_TRUE(IndexShard::decode(IndexShard().encode()));
}

TEST(FleetIndex, NodeDirectory) {
    NodeDirectory d;
    d.assert_node("web2:443", 100);
    d.assert_node("web1:443", 200);
    d.assert_node("web2:443", 300);
    ASSERT_EQ(d.nodes().size(), 2u);
    EXPECT_EQ(d.nodes()[0].name, "web1:443");
    EXPECT_EQ(d.nodes()[1].last_seen, 300);
    const auto back = NodeDirectory::decode(d.encode());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->encode(), d.encode());
    d.prune(250);
    ASSERT_EQ(d.nodes().size(), 1u);
    for (std::size_t i = 0; i < kMaxNodes + 5; ++i) d.assert_node("n" + std::to_string(i), 1000 + i);
    EXPECT_EQ(d.nodes().size(), kMaxNodes);
    EXPECT_FALSE(NodeDirectory::decode(""));
    EXPECT_FALSE(NodeDirectory::decode(d.encode() + "\x01"));
}
