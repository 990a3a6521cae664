// The writer and the reader together, over an in-memory cache: what one
// node writes, every node reads; what several write, merges.
#include <gtest/gtest.h>

#include <cstdio>

#include <polyprov/fleet_reader.hpp>
#include <polyprov/fleet_writer.hpp>

#include "fleet_test_support.hpp"

using namespace polyprov;
using namespace polyprov::test;

namespace {

constexpr std::int64_t kExpire = 30 * 86400;

std::vector<DeviceRecord> pending(std::initializer_list<FleetEvent> events) {
    std::vector<DeviceRecord> out;
    for (const FleetEvent& e : events) {
        auto same = std::find_if(out.begin(), out.end(), [&](const DeviceRecord& r) { return r.mac == *e.mac; });
        if (same == out.end())
            out.push_back(record_of(e));
        else
            apply(*same, e);
    }
    return out;
}

// Three devices, each in a shard of its own, checked in at kNow.
std::vector<DeviceRecord> three_devices() {
    return pending({fetch("0004F2000001", kNow), fetch("0004F2000003", kNow), fetch("0004F2000005", kNow)});
}

// `n` MACs from `from` up that fall in the same index shard as `from`.
std::vector<Mac> macs_in_one_shard(std::uint64_t from, std::size_t n) {
    const auto nth = [](std::uint64_t v) {
        char hex[13];
        std::snprintf(hex, sizeof hex, "%012llX", static_cast<unsigned long long>(v));
        return mac(hex);
    };
    std::vector<Mac> out;
    for (std::uint64_t v = from; out.size() < n; ++v)
        if (shard_of(nth(v)) == shard_of(nth(from))) out.push_back(nth(v));
    return out;
}

// A request from a certificate whose CN is not on the ACL.
FleetEvent refused_at(Mac m, UnixTime t) {
    FleetEvent e = fetch(m.str().c_str(), t);
    e.authenticated = false;
    e.decision = FleetDecision::not_in_acl;
    return e;
}

}  // namespace

TEST(FleetStore, WhatOneNodeWritesTheReaderSees) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    const FlushReport report = writer.flush(cache, pending({fetch("0004F2000001", kNow), fetch("0004F2000003", kNow)}), kNow);
    EXPECT_FALSE(report.failed);
    EXPECT_EQ(report.records_written, 2u);
    const auto snapshot = read_fleet(cache, kNow + 5, kExpire);
    ASSERT_TRUE(snapshot);
    ASSERT_EQ(snapshot->records.size(), 2u);
    EXPECT_EQ(snapshot->records[0].mac, mac("0004F2000001"));
    EXPECT_EQ(snapshot->nodes, std::vector<std::string>{"web1:443"});
    EXPECT_EQ(snapshot->missing, 0u);
    // Entries expire with the configured time.
    for (const auto& [key, entry] : cache.entries) EXPECT_EQ(entry.expires, kNow + kExpire);
}

TEST(FleetStore, FlushesAddUp) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    FleetEvent probe = fetch("0004F2000001", kNow + 10, "/0004F2000002.cfg");
    probe.decision = FleetDecision::mac_mismatch;
    writer.flush(cache, pending({probe}), kNow + 10);
    const auto snapshot = read_fleet(cache, kNow + 20, kExpire);
    ASSERT_TRUE(snapshot);
    ASSERT_EQ(snapshot->records.size(), 1u);
    const DeviceRecord& r = snapshot->records[0];
    EXPECT_EQ(r.first_seen, us(kNow));
    EXPECT_EQ(r.latest.time, us(kNow + 10));
    EXPECT_EQ(r.last_config_fetch, us(kNow));
    ASSERT_EQ(r.probes.size(), 1u);
}

TEST(FleetStore, TwoNodesOneView) {
    MemoryCache cache;
    FleetWriter web1("web1:443", kExpire), web2("web2:443", kExpire);
    web1.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    FleetEvent later = fetch("0004F2000001", kNow + 30);
    later.address = "192.0.2.77";
    FleetEvent refused = fetch("64167F000002", kNow + 31);
    refused.decision = FleetDecision::not_in_acl;
    web2.flush(cache, pending({later, refused}), kNow + 30);
    const auto snapshot = read_fleet(cache, kNow + 40, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->nodes.size(), 2u);
    ASSERT_EQ(snapshot->records.size(), 2u);
    const DeviceRecord& phone = snapshot->records[0];
    EXPECT_EQ(phone.first_seen, us(kNow));
    EXPECT_EQ(phone.latest.time, us(kNow + 30));
    EXPECT_EQ(phone.latest.address, "192.0.2.77");
    EXPECT_FALSE(snapshot->records[1].is_device());
}

TEST(FleetStore, ALostDirectoryEntryIsRepaired) {
    MemoryCache cache;
    FleetWriter web1("web1:443", kExpire), web2("web2:443", kExpire);
    web1.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    web2.flush(cache, pending({fetch("0004F2000003", kNow)}), kNow);
    // A concurrent write elsewhere lost web1's entry.
    NodeDirectory only_web2;
    only_web2.assert_node("web2:443", kNow);
    cache.entries[node_directory_key()].value = only_web2.encode();
    EXPECT_EQ(read_fleet(cache, kNow + 1, kExpire)->records.size(), 1u);
    // ... but not from its own page.
    EXPECT_EQ(read_fleet(cache, kNow + 1, kExpire, "web1:443")->records.size(), 2u);
    // web1's next flush repairs it.
    web1.flush(cache, pending({fetch("0004F2000001", kNow + 30)}), kNow + 30);
    EXPECT_EQ(read_fleet(cache, kNow + 31, kExpire)->records.size(), 2u);
}

TEST(FleetStore, ALostIndexEntryIsRepaired) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    const std::string shard = index_key(node_id("web1:443"), shard_of(mac("0004F2000001")));
    cache.entries.erase(shard);  // evicted by the cache, say
    writer.flush(cache, pending({fetch("0004F2000001", kNow + 5)}), kNow + 5);
    auto snapshot = read_fleet(cache, kNow + 6, kExpire);
    EXPECT_EQ(snapshot->records.size(), 0u);  // not re-asserted yet, and the view says so
    EXPECT_EQ(snapshot->lost, 1u);
    EXPECT_FALSE(snapshot->complete());
    const FlushReport report = writer.flush(cache, pending({fetch("0004F2000001", kNow + FleetWriter::kIndexRefresh)}),
                                            kNow + FleetWriter::kIndexRefresh);
    EXPECT_EQ(report.cache_evicted, 1u);
    snapshot = read_fleet(cache, kNow + FleetWriter::kIndexRefresh + 1, kExpire);
    EXPECT_EQ(snapshot->records.size(), 1u);
    // What the cache evicted stays on record, with when it was found: until
    // the view's expiry has passed since, a device evicted then and not
    // seen again would be missing, so the view does not call itself complete.
    EXPECT_EQ(snapshot->evicted, 1u);
    EXPECT_EQ(snapshot->last_eviction, kNow + FleetWriter::kIndexRefresh);
    EXPECT_FALSE(snapshot->complete());
    writer.flush(cache, pending({fetch("0004F2000001", kNow + kExpire + 1000)}), kNow + kExpire + 1000);
    snapshot = read_fleet(cache, kNow + kExpire + FleetWriter::kIndexRefresh + 1, kExpire);
    EXPECT_EQ(snapshot->records.size(), 1u);
    EXPECT_TRUE(snapshot->complete());
}

TEST(FleetStore, AShardThatExpiredIsNotCalledLost) {
    MemoryCache cache;
    FleetWriter writer("web1:443", 3600);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    writer.flush(cache, pending({fetch("0004F2000003", kNow + 3000)}), kNow + 3000);
    // The sweep, which comes round to every shard within half the expiry,
    // finds the first shard's only MAC expired and counts the shard empty;
    // then the cache may expire it.
    // (The index's time may lag a record's by FleetWriter::kIndexSlack.)
    const UnixTime later = kNow + 3600 + FleetWriter::kIndexSlack + 10;
    writer.flush(cache, {}, later, {shard_of(mac("0004F2000001"))});
    cache.entries.erase(index_key(node_id("web1:443"), shard_of(mac("0004F2000001"))));
    cache.entries.erase(record_key(node_id("web1:443"), mac("0004F2000001")));
    const auto snapshot = read_fleet(cache, later, 3600);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->records.size(), 1u);
    EXPECT_EQ(snapshot->lost, 0u);
    EXPECT_TRUE(snapshot->complete());
}

TEST(FleetStore, ALostSummaryIsRebuiltFromTheManifestAndSaidSo) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow), fetch("0004F2000003", kNow)}), kNow);
    const NodeId id = node_id("web1:443");
    ASSERT_TRUE(cache.entries.count(summary_key(id)));
    EXPECT_EQ(NodeSummary::decode(cache.entries[summary_key(id)].value)->total(), 2u);
    cache.entries.erase(summary_key(id));
    auto snapshot = read_fleet(cache, kNow + 1, kExpire);
    EXPECT_EQ(snapshot->records.size(), 2u);  // read through every part
    EXPECT_EQ(snapshot->without_manifest, 1u);
    EXPECT_FALSE(snapshot->complete());
    const FlushReport report = writer.flush(cache, pending({fetch("0004F2000005", kNow + 2)}), kNow + 2);
    EXPECT_TRUE(report.manifest_lost);
    EXPECT_EQ(NodeSummary::decode(cache.entries[summary_key(id)].value)->total(), 3u);
    snapshot = read_fleet(cache, kNow + 3, kExpire);
    EXPECT_EQ(snapshot->records.size(), 3u);
    EXPECT_TRUE(snapshot->complete());
}

TEST(FleetStore, ALostManifestPartIsCountedAndRebuilt) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    const Mac a = mac("0004F2000001");
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    const NodeId id = node_id("web1:443");
    // The cache drops the part and the shard it counts.
    cache.entries.erase(manifest_key(id, part_of(shard_of(a))));
    cache.entries.erase(index_key(id, shard_of(a)));
    auto snapshot = read_fleet(cache, kNow + 1, kExpire);
    EXPECT_EQ(snapshot->records.size(), 0u);
    EXPECT_EQ(snapshot->lost, 1u);  // the summary still counts it
    EXPECT_FALSE(snapshot->complete());
    // The next writer to need that part counts the eviction.
    FleetEvent other = fetch("0004F2000001", kNow + 2);
    writer.forget();
    const FlushReport report = writer.flush(cache, pending({other}), kNow + 2);
    EXPECT_EQ(report.cache_evicted, 1u);
    snapshot = read_fleet(cache, kNow + 3, kExpire);
    EXPECT_EQ(snapshot->records.size(), 1u);
    EXPECT_EQ(snapshot->evicted, 1u);
    EXPECT_FALSE(snapshot->complete());  // evicted within the expiry: some device may still be missing
}

TEST(FleetStore, ASweepRewritesShardsAndRecordsAsTheyAre) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    const Mac a = mac("0004F2000001");
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    const NodeId id = node_id("web1:443");
    const std::string before = cache.entries[record_key(id, a)].value;
    // Stamp the entries, to see which the sweep writes again.
    for (auto& [key, entry] : cache.entries) entry.expires = 1;
    const FlushReport report = writer.flush(cache, {}, kNow + 100, {shard_of(a)});
    EXPECT_FALSE(report.failed);
    EXPECT_EQ(report.records_swept, 1u);
    EXPECT_EQ(cache.entries[record_key(id, a)].value, before);        // as it was
    // Never later than a write now would be (memcached takes more than 30
    // days ahead for a time in 1970, so such a record was gone at once) ...
    EXPECT_EQ(cache.entries[record_key(id, a)].expires, kNow + 100 + kExpire);
    EXPECT_EQ(cache.entries[index_key(id, shard_of(a))].expires, kNow + 100 + kExpire);
    EXPECT_EQ(cache.entries[manifest_key(id, part_of(shard_of(a)))].expires, kNow + 100 + kExpire);
    EXPECT_EQ(cache.entries[summary_key(id)].expires, kNow + 100 + kExpire);
    EXPECT_EQ(cache.entries[node_directory_key()].expires, kNow + 100 + kExpire);
    // ... and no sooner than it would have been (the index's time may lag
    // the record's by up to kIndexSlack).
    writer.flush(cache, {}, kNow + 5000, {shard_of(a)});
    EXPECT_EQ(cache.entries[record_key(id, a)].expires, kNow + kExpire + FleetWriter::kIndexSlack);
    // An empty shard swept is no loss; a record the cache dropped is counted.
    EXPECT_EQ(writer.flush(cache, {}, kNow + 101, {(shard_of(a) + 1) % kIndexShards}).cache_evicted, 0u);
    cache.entries.erase(record_key(id, a));
    EXPECT_EQ(writer.flush(cache, {}, kNow + 102, {shard_of(a)}).records_evicted, 1u);
    EXPECT_EQ(read_fleet(cache, kNow + 103, kExpire)->missing, 1u);
}

namespace {

// Notes which keys are read or written while the writer holds the lock.
class HoldingCache : public MemoryCache {
public:
    int holds = 0;
    bool held = false;
    std::vector<std::pair<std::string, bool>> calls;  // kind of key, held

    bool hold() override {
        ++holds;
        return held = true;
    }
    void release() override { held = false; }
    Status get(std::string_view key, std::string& value) override {
        calls.emplace_back(std::string(key.substr(1, 4)), held);
        return MemoryCache::get(key, value);
    }
    Status update(std::string_view key, UnixTime expires, const Change& change) override {
        calls.emplace_back(std::string(key.substr(1, 4)), held);
        return MemoryCache::update(key, expires, change);
    }
};

}  // namespace

TEST(FleetStore, TheIndexAndWhatCountsItAreWrittenInOneHold) {
    // A count written by one process after another had changed the shard
    // it counts hid the shard from the page (a sweep's 0 over a new MAC's
    // 1): the manifest's reading, the shards, the parts and the summary are
    // one step under the node's lock. Records need no such step.
    HoldingCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow), fetch("0004F2000003", kNow)}), kNow, {7, 8});
    EXPECT_EQ(cache.holds, 1);
    EXPECT_FALSE(cache.held);
    std::size_t under_hold = 0;
    for (const auto& [kind, held] : cache.calls) {
        if (kind == "PPFS" || kind == "PPFM" || kind == "PPFI") {
            EXPECT_TRUE(held) << kind;
            ++under_hold;
        }
    }
    EXPECT_GT(under_hold, 4u);
}

TEST(FleetStore, AFirstWriteIsNotALoss) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    const FlushReport report = writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    EXPECT_FALSE(report.manifest_lost);
    EXPECT_EQ(report.cache_evicted, 0u);
    EXPECT_TRUE(read_fleet(cache, kNow, kExpire)->complete());
}

TEST(FleetStore, TheReadersOwnNodeCountsWithoutTheDirectory) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    cache.entries.erase(node_directory_key());  // evicted
    EXPECT_EQ(read_fleet(cache, kNow + 1, kExpire)->records.size(), 0u);
    const auto snapshot = read_fleet(cache, kNow + 1, kExpire, "web1:443");
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->records.size(), 1u);
    EXPECT_EQ(snapshot->nodes, std::vector<std::string>{"web1:443"});
    EXPECT_TRUE(snapshot->complete());
    // A node that never wrote adds nothing, not even a name.
    EXPECT_TRUE(read_fleet(cache, kNow + 1, kExpire, "web9:443")->nodes.empty());
}

TEST(FleetStore, AHundredThousandDevicesOnThreeNodesAllComeBack) {
    MemoryCache cache;
    FleetWriter web[] = {FleetWriter("web1:443", kExpire), FleetWriter("web2:443", kExpire),
                         FleetWriter("web3:443", kExpire)};
    constexpr std::uint64_t kFleet = 100000;
    constexpr std::size_t kPerFlush = 2000;
    std::vector<DeviceRecord> batch[3];
    for (std::uint64_t i = 0; i < kFleet; ++i) {
        char hex[13];
        std::snprintf(hex, sizeof hex, "%012llX", static_cast<unsigned long long>(0x0004F2000000ull + i * 7));
        batch[i % 3].push_back(record_of(fetch(hex, kNow + static_cast<UnixTime>(i / 1000))));
        if (batch[i % 3].size() == kPerFlush || i + 3 >= kFleet) {
            const FlushReport report = web[i % 3].flush(cache, batch[i % 3], kNow + static_cast<UnixTime>(i / 1000));
            ASSERT_FALSE(report.failed);
            EXPECT_TRUE(report.evicted_devices.empty());
            batch[i % 3].clear();
        }
    }
    const auto snapshot = read_fleet(cache, kNow + 200, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->records.size(), kFleet);
    EXPECT_EQ(snapshot->nodes.size(), 3u);
    EXPECT_TRUE(snapshot->complete());
    // Every entry stays far under memcached's 1 MB item limit.
    std::size_t largest = 0;
    for (const auto& [key, entry] : cache.entries) largest = std::max(largest, entry.value.size());
    EXPECT_LT(largest, 16384u);
}

TEST(FleetStore, ACacheFailureStopsTheFlush) {
    MemoryCache cache;
    cache.fail_after = 2;  // the directory, one record, then nothing
    FleetWriter writer("web1:443", kExpire);
    const FlushReport report = writer.flush(
        cache, pending({fetch("0004F2000001", kNow), fetch("0004F2000003", kNow), fetch("0004F2000005", kNow)}), kNow);
    EXPECT_TRUE(report.failed);
    EXPECT_EQ(report.records_written, 1u);
    EXPECT_FALSE(read_fleet(cache, kNow, kExpire));  // the reader says so too
}

TEST(FleetStore, AfterAFailureAnEmptiedCacheIsRefilled) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    // The cache server restarts empty; the first flush that tries fails.
    cache.entries.clear();
    cache.fail_after = 0;
    EXPECT_TRUE(writer.flush(cache, pending({fetch("0004F2000001", kNow + 5)}), kNow + 5).failed);
    cache.fail_after = -1;
    writer.flush(cache, pending({fetch("0004F2000003", kNow + 10)}), kNow + 10);
    const auto snapshot = read_fleet(cache, kNow + 11, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->records.size(), 1u);  // listed at once, not a minute later
    EXPECT_EQ(snapshot->nodes.size(), 1u);
}

TEST(FleetStore, AWriterThatForgetsRefillsAnEmptiedCache) {
    // Another process saw the outage; this one only learns of it.
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    cache.entries.clear();
    writer.flush(cache, pending({fetch("0004F2000001", kNow + 5)}), kNow + 5);
    EXPECT_EQ(read_fleet(cache, kNow + 6, kExpire)->records.size(), 0u);  // written, but neither listed nor indexed
    writer.forget();
    writer.flush(cache, pending({fetch("0004F2000001", kNow + 7)}), kNow + 7);
    EXPECT_EQ(read_fleet(cache, kNow + 8, kExpire)->records.size(), 1u);
}

TEST(FleetStore, GarbageInTheCacheIsReplacedOrSkipped) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    const NodeId id = node_id("web1:443");
    cache.entries[record_key(id, mac("0004F2000001"))] = {"\x01" "Dgarbage", kNow + 100};
    const FlushReport report = writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    EXPECT_EQ(report.unreadable, 1u);
    auto snapshot = read_fleet(cache, kNow, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->records.size(), 1u);
    // A record stored under another MAC's key is not believed.
    cache.entries[record_key(id, mac("0004F2000001"))].value = encode(record_of(fetch("0004F2000099", kNow)));
    snapshot = read_fleet(cache, kNow, kExpire);
    EXPECT_EQ(snapshot->records.size(), 0u);
    EXPECT_EQ(snapshot->unreadable, 1u);
    cache.entries[node_directory_key()].value = "nonsense";
    snapshot = read_fleet(cache, kNow, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->unreadable, 1u);
    EXPECT_TRUE(snapshot->records.empty());
}

TEST(FleetStore, OldRecordsLeaveTheView) {
    MemoryCache cache;
    FleetWriter writer("web1:443", 3600);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    writer.flush(cache, pending({fetch("0004F2000003", kNow + 3000)}), kNow + 3000);
    const auto snapshot = read_fleet(cache, kNow + 3700, 3600);
    ASSERT_TRUE(snapshot);
    ASSERT_EQ(snapshot->records.size(), 1u);
    EXPECT_EQ(snapshot->records[0].mac, mac("0004F2000003"));
}

TEST(FleetStore, MissingRecordsAreCounted) {
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    writer.flush(cache, pending({fetch("0004F2000001", kNow), fetch("0004F2000003", kNow)}), kNow);
    cache.entries.erase(record_key(node_id("web1:443"), mac("0004F2000003")));
    const auto snapshot = read_fleet(cache, kNow, kExpire);
    EXPECT_EQ(snapshot->records.size(), 1u);
    EXPECT_EQ(snapshot->missing, 1u);
}

TEST(FleetStore, ACacheEmptiedAtOnceIsNotTakenForAnEmptyFleet) {
    // Summary, parts, shards and records all gone together (a restarted
    // memcached): nothing left in the cache counts the loss.
    MemoryCache cache;
    NodeTally tally;
    FleetWriter writer("web1:443", kExpire, &tally);
    writer.flush(cache, three_devices(), kNow);
    EXPECT_EQ(tally.total.load(), 3u);
    ASSERT_TRUE(read_fleet(cache, kNow + 1, kExpire, "web1:443", &tally)->complete());
    cache.entries.clear();

    // Before any writer comes by, the page says so from the node's memory.
    auto snapshot = read_fleet(cache, kNow + 2, kExpire, "web1:443", &tally);
    ASSERT_TRUE(snapshot);
    EXPECT_TRUE(snapshot->records.empty());
    EXPECT_EQ(snapshot->lost, 3u);
    EXPECT_FALSE(snapshot->complete());
    EXPECT_EQ(snapshot->nodes, std::vector<std::string>{"web1:443"});
    // Without it (another server's page), the loss cannot be seen.
    EXPECT_TRUE(read_fleet(cache, kNow + 2, kExpire, "web1:443")->complete());

    // The first writer after it counts it as evicted, in the summary every
    // node reads, for as long as a device evicted then may still be missing.
    writer.forget();
    const FlushReport report = writer.flush(cache, pending({fetch("0004F2000003", kNow + 5)}), kNow + 5);
    EXPECT_EQ(report.cache_evicted, 3u);
    EXPECT_TRUE(report.manifest_lost);
    snapshot = read_fleet(cache, kNow + 6, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->records.size(), 1u);
    EXPECT_EQ(snapshot->evicted, 3u);
    EXPECT_FALSE(snapshot->complete());
    EXPECT_EQ(tally.total.load(), 1u);
    // Said once: the next flush finds the summary it wrote.
    EXPECT_EQ(writer.flush(cache, pending({fetch("0004F2000005", kNow + 7)}), kNow + 7).cache_evicted, 0u);
}

TEST(FleetStore, AnOldTallyIsNotALoss) {
    // A node stopped for longer than half the expiry: its summary may have
    // expired with its devices.
    MemoryCache cache;
    NodeTally tally;
    FleetWriter writer("web1:443", kExpire, &tally);
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    cache.entries.clear();
    const UnixTime later = kNow + kExpire / 2 + 1;
    EXPECT_TRUE(read_fleet(cache, later, kExpire, "web1:443", &tally)->complete());
    writer.forget();
    EXPECT_EQ(writer.flush(cache, pending({fetch("0004F2000003", later)}), later).cache_evicted, 0u);
}

TEST(FleetStore, RefusedMacsGetARecordOnlyWhenTheirShardHasRoom) {
    // Made-up CNs, all in one shard: they take turns in its 64 refused
    // places, and the cache holds a record for each MAC the index names.
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    std::vector<Mac> same_shard = macs_in_one_shard(0x0004F2100000, kShardRefusedCapacity + 11);
    const Mac late = same_shard.back();  // kept for the end
    same_shard.pop_back();
    const auto records_held = [&] {
        std::size_t n = 0;
        for (const Mac m : same_shard) n += cache.entries.count(record_key(node_id("web1:443"), m));
        return n;
    };
    // A device keeps its record throughout.
    writer.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    UnixTime t = kNow;
    for (const Mac m : same_shard) {
        ++t;
        writer.flush(cache, pending({refused_at(m, t)}), t);
    }
    EXPECT_EQ(records_held(), kShardRefusedCapacity);
    auto snapshot = read_fleet(cache, t + 1, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_TRUE(snapshot->complete());
    EXPECT_EQ(snapshot->records.size(), kShardRefusedCapacity + 1);
    // The newest stay; the first ten went, records and all.
    for (std::size_t i = 0; i < same_shard.size(); ++i)
        EXPECT_EQ(cache.entries.count(record_key(node_id("web1:443"), same_shard[i])), i < 10 ? 0u : 1u) << i;

    // One older than every refused MAC there finds no room: no record.
    const FlushReport report = writer.flush(cache, pending({refused_at(late, kNow - 100)}), t + 2);
    EXPECT_EQ(report.refused_dropped, 1u);
    EXPECT_EQ(report.records_written, 0u);
    EXPECT_EQ(cache.entries.count(record_key(node_id("web1:443"), late)), 0u);
    EXPECT_EQ(cache.entries.count(record_key(node_id("web1:443"), mac("0004F2000001"))), 1u);
}

TEST(FleetStore, WhatEachNodeCouldNotRecordIsSaidOnEveryNodesPage) {
    MemoryCache cache;
    NodeTally tally1, tally2;
    FleetWriter web1("web1:443", kExpire, &tally1), web2("web2:443", kExpire, &tally2);
    tally1.dropped = 2;
    tally2.dropped = 7;
    web1.flush(cache, pending({fetch("0004F2000001", kNow)}), kNow);
    web2.flush(cache, pending({fetch("0004F2000003", kNow)}), kNow);
    // web1's own count is its live one; web2's, what its summary says.
    tally1.dropped = 3;
    EXPECT_EQ(read_fleet(cache, kNow + 1, kExpire, "web1:443", &tally1)->updates_dropped, 10u);
    EXPECT_EQ(read_fleet(cache, kNow + 1, kExpire, "web2:443", &tally2)->updates_dropped, 9u);
    EXPECT_EQ(read_fleet(cache, kNow + 1, kExpire)->updates_dropped, 9u);
}

TEST(FleetStore, ARefusedMacPushedOutAndBackInOneBatchKeepsItsRecord) {
    // In one flush (pending is in MAC order), a lower MAC of the same shard
    // pushes out the oldest refused MAC, whose own request then takes a
    // place again: its record stays, and the view stays complete.
    MemoryCache cache;
    FleetWriter writer("web1:443", kExpire);
    const std::vector<Mac> same_shard = macs_in_one_shard(0x0004F2300000, kShardRefusedCapacity + 1);
    // The places filled by the higher MACs, the oldest first.
    UnixTime t = kNow;
    for (std::size_t i = 1; i < same_shard.size(); ++i, ++t) writer.flush(cache, pending({refused_at(same_shard[i], t)}), t);
    const Mac oldest = same_shard[1];
    ++t;
    writer.flush(cache, pending({refused_at(same_shard[0], t), refused_at(oldest, t + 1)}), t);
    const NodeId id = node_id("web1:443");
    EXPECT_EQ(cache.entries.count(record_key(id, oldest)), 1u);
    EXPECT_EQ(cache.entries.count(record_key(id, same_shard[0])), 1u);
    EXPECT_EQ(cache.entries.count(record_key(id, same_shard[2])), 0u);  // pushed out in its stead
    const auto snapshot = read_fleet(cache, t + 2, kExpire);
    ASSERT_TRUE(snapshot);
    EXPECT_TRUE(snapshot->complete()) << snapshot->missing;
    EXPECT_EQ(snapshot->records.size(), kShardRefusedCapacity);
}

TEST(FleetStore, AnEmptiedCacheIsCountedEvenWhenTheFlushStopsAfterTheSummary) {
    // The first write after the cache emptied writes the summary early (a
    // shard counted 0 is to get a MAC); should it fail after that, the
    // summary it left must say what was lost.
    int trials = 0;
    // (Rebuilding the node's counts from an empty cache reads each of its
    // 1,024 shards first.)
    for (int budget = 1; budget < 4000; ++budget) {
        MemoryCache emptied;
        NodeTally tally;  // what the node counted before: 2 MACs, just now
        tally.total = 2;
        tally.at = kNow;
        FleetWriter writer("web1:443", kExpire, &tally);
        emptied.fail_after = budget;
        if (!writer.flush(emptied, pending({fetch("0004F2000005", kNow + 5)}), kNow + 5).failed) break;
        if (!emptied.entries.count(summary_key(node_id("web1:443")))) continue;
        ++trials;
        emptied.fail_after = -1;
        const auto snapshot = read_fleet(emptied, kNow + 6, kExpire);
        ASSERT_TRUE(snapshot);
        EXPECT_EQ(snapshot->evicted, 2u) << budget;
        EXPECT_FALSE(snapshot->complete()) << budget;
    }
    EXPECT_GT(trials, 0) << "no failure fell between the summary and the end of the flush";
}

TEST(FleetStore, ALossIsCountedOnceWhenTheSummaryWentWithAShard) {
    MemoryCache cache;
    NodeTally tally;
    FleetWriter writer("web1:443", kExpire, &tally);
    writer.flush(cache, three_devices(), kNow);
    const NodeId id = node_id("web1:443");
    ASSERT_NE(shard_of(mac("0004F2000001")), shard_of(mac("0004F2000003")));
    ASSERT_NE(shard_of(mac("0004F2000001")), shard_of(mac("0004F2000005")));
    cache.entries.erase(summary_key(id));
    cache.entries.erase(index_key(id, shard_of(mac("0004F2000001"))));
    // The surviving part counts the shard that went: one device lost, not
    // that one and again the tally's difference.
    const auto snapshot = read_fleet(cache, kNow + 1, kExpire, "web1:443", &tally);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->records.size(), 2u);
    EXPECT_EQ(snapshot->lost, 1u);
}
