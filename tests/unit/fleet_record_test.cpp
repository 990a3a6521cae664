#include <gtest/gtest.h>

#include <algorithm>

#include <polyprov/fleet_record.hpp>

#include "fleet_test_support.hpp"

using namespace polyprov;
using namespace polyprov::test;

namespace polyprov::test {

FleetEvent random_event(std::mt19937& rng, Mac m) {
    const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const char* methods[] = {"GET", "HEAD", "PUT"};
    const char* paths[] = {"/0004F2000001.cfg", "/000000000000.cfg", "/0004F2000002.cfg", "/logs/0004F2000001-app.log"};
    const char* agents[] = {"FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application",
                            "FileTransport PolyEdge-Edge_E450-UA/8.0.1.0123 Type/Application", "Microbrowser/2.0", ""};
    const FleetDecision decisions[] = {FleetDecision::allow, FleetDecision::unverified, FleetDecision::not_in_acl,
                                       FleetDecision::mac_mismatch, FleetDecision::not_writable,
                                       FleetDecision::not_shared};
    FleetEvent e = fetch("0004F2000001", kNow - pick(1000) * 60);
    e.time += pick(1000000);
    e.mac = m;
    e.method = methods[pick(3)];
    e.path = paths[pick(4)];
    e.decision = decisions[pick(6)];
    e.authenticated = pick(4) != 0;
    e.status = e.decision == FleetDecision::allow ? (e.method == std::string("PUT") ? 204 : 200) : 403;
    e.address = "192.0.2." + std::to_string(pick(3));
    e.user_agent = agents[pick(4)];
    e.label = pick(2) ? "desk" : "";
    e.waived = pick(2);
    e.cert_expired = e.waived;
    e.pinned = !e.waived && pick(3) == 0;
    e.body_bytes = pick(2) ? std::optional<std::uint64_t>(pick(5000)) : std::nullopt;
    return e;
}

DeviceRecord random_record(std::mt19937& rng, Mac m) {
    DeviceRecord r(m);
    for (int i = 0, n = 1 + static_cast<int>(rng() % 6); i < n; ++i) apply(r, random_event(rng, m));
    return r;
}

}  // namespace polyprov::test

TEST(FleetDecision, TheModulesVocabulary) {
    EXPECT_EQ(parse_decision("allow"), FleetDecision::allow);
    EXPECT_EQ(parse_decision("deny:not-in-acl"), FleetDecision::not_in_acl);
    EXPECT_EQ(parse_decision("deny:mac-mismatch"), FleetDecision::mac_mismatch);
    EXPECT_EQ(parse_decision("deny:error"), FleetDecision::error);
    EXPECT_EQ(parse_decision("deny:not-shared"), FleetDecision::not_shared);
    EXPECT_EQ(parse_decision("deny:something-new"), FleetDecision::error);
    EXPECT_FALSE(parse_decision(""));
    EXPECT_FALSE(parse_decision("Allow"));
    EXPECT_FALSE(parse_decision("not-in-acl"));
    for (std::size_t i = 0; i < kFleetDecisions; ++i) {
        const auto d = static_cast<FleetDecision>(i);
        EXPECT_EQ(parse_decision(decision_text(d)), d);
    }
}

TEST(FleetRecord, AnAllowedFetchMakesADevice) {
    const DeviceRecord r = record_of(fetch("0004F2000001", kNow));
    EXPECT_TRUE(r.is_device());
    EXPECT_EQ(r.first_seen, us(kNow));
    EXPECT_EQ(r.latest.time, us(kNow));
    EXPECT_EQ(r.latest.label, "desk");
    EXPECT_EQ(r.latest.request.path, "/0004F2000001.cfg");
    EXPECT_EQ(r.latest.request.status, 200);
    EXPECT_EQ(r.last_config_fetch, us(kNow));
    EXPECT_EQ(r.agent.model, "VVX_500");
    EXPECT_EQ(r.agent.firmware, "5.9.7.4477");
    EXPECT_EQ(r.last_upload.time, 0);
    for (const auto n : r.denials) EXPECT_EQ(n, 0u);
}

TEST(FleetRecord, OnlyASuccessfulGetOfACfgIsAConfigFetch) {
    EXPECT_EQ(record_of(fetch("0004F2000001", kNow, "/sip.ld")).last_config_fetch, 0);
    EXPECT_EQ(record_of(fetch("0004F2000001", kNow, "/0004F2000001.CFG")).last_config_fetch, us(kNow));
    FleetEvent missing = fetch("0004F2000001", kNow);
    missing.status = 404;
    EXPECT_EQ(record_of(missing).last_config_fetch, 0);
    FleetEvent head = fetch("0004F2000001", kNow);
    head.method = "HEAD";
    EXPECT_EQ(record_of(head).last_config_fetch, 0);
}

TEST(FleetRecord, UploadsKeepTheirSize) {
    FleetEvent put = fetch("0004F2000001", kNow, "/logs/0004F2000001-app.log");
    put.method = "PUT";
    put.status = 204;
    put.body_bytes = 1234;
    const DeviceRecord r = record_of(put);
    EXPECT_EQ(r.last_upload.time, us(kNow));
    EXPECT_EQ(r.last_upload.bytes, 1234u);
    put.status = 416;
    EXPECT_EQ(record_of(put).last_upload.time, 0);
}

TEST(FleetRecord, AnUnauthenticatedClaimIsARefusalOnly) {
    FleetEvent e = fetch("0004F2000001", kNow);
    e.authenticated = false;
    e.decision = FleetDecision::unverified;
    e.status = 403;
    e.address = "198.51.100.7";
    const DeviceRecord r = record_of(e);
    EXPECT_FALSE(r.is_device());  // nobody makes a phone look alive with its MAC in a CN
    EXPECT_EQ(r.first_seen, 0);
    EXPECT_EQ(r.denials[static_cast<std::size_t>(FleetDecision::unverified)], 1u);
    EXPECT_EQ(r.unverified.last_seen, us(kNow));
    EXPECT_EQ(r.unverified.address, "198.51.100.7");
}

TEST(FleetRecord, NotOnTheListIsARefusal) {
    FleetEvent e = fetch("64167F000002", kNow);
    e.decision = FleetDecision::not_in_acl;
    e.status = 403;
    const DeviceRecord r = record_of(e);
    EXPECT_FALSE(r.is_device());
    EXPECT_EQ(r.denials[static_cast<std::size_t>(FleetDecision::not_in_acl)], 1u);
    EXPECT_EQ(r.not_in_acl.last_seen, us(kNow));
}

TEST(FleetRecord, AnotherPhonesFileIsAProbe) {
    DeviceRecord r = record_of(fetch("0004F2000001", kNow - 60));
    for (int i = 0; i < 3; ++i) {
        FleetEvent e = fetch("0004F2000001", kNow + i, "/0004F2000002.cfg");
        e.decision = FleetDecision::mac_mismatch;
        e.status = 403;
        apply(r, e);
    }
    ASSERT_EQ(r.probes.size(), 1u);
    EXPECT_EQ(r.probes[0].path, "/0004F2000002.cfg");
    EXPECT_EQ(r.probes[0].count, 3u);
    EXPECT_EQ(r.probes[0].last_seen, us(kNow + 2));
    EXPECT_EQ(r.denials[static_cast<std::size_t>(FleetDecision::mac_mismatch)], 3u);
    EXPECT_EQ(r.latest.request.decision, FleetDecision::mac_mismatch);  // still the device's newest request
    // Bounded: the newest kMaxProbes (address, path) pairs stay.
    for (int i = 0; i < 20; ++i) {
        FleetEvent e = fetch("0004F2000001", kNow + 100 + i, "/x");
        e.path = "/0004F20001" + std::to_string(10 + i) + ".cfg";
        e.decision = FleetDecision::mac_mismatch;
        apply(r, e);
    }
    ASSERT_EQ(r.probes.size(), kMaxProbes);
    EXPECT_EQ(r.probes.front().last_seen, us(kNow + 119));
}

TEST(FleetRecord, WithinOneSecondTheLaterRequestIsTheLast) {
    // A phone's requests come within one second: the probe, then the
    // upload, microseconds apart. Second resolution made the 403 win.
    FleetEvent probe = fetch("0004F2000001", kNow, "/0004F2000002.cfg");
    probe.decision = FleetDecision::mac_mismatch;
    probe.status = 403;
    FleetEvent put = fetch("0004F2000001", kNow, "/logs/0004F2000001-app.log");
    put.method = "PUT";
    put.status = 201;
    put.time = probe.time + 1500;
    for (const bool upload_first : {false, true}) {
        DeviceRecord r(mac("0004F2000001"));
        apply(r, upload_first ? put : probe);
        apply(r, upload_first ? probe : put);
        EXPECT_EQ(r.latest.request.method, "PUT");
        EXPECT_EQ(r.latest.request.status, 201);
    }
}

TEST(FleetRecord, ModelAndFirmwareSurviveABrowserRequest) {
    DeviceRecord r = record_of(fetch("0004F2000001", kNow));
    FleetEvent browser = fetch("0004F2000001", kNow + 10, "/menu.xhtml");
    browser.user_agent = "Microbrowser/2.0";
    apply(r, browser);
    EXPECT_EQ(r.latest.user_agent, "Microbrowser/2.0");  // kept as text
    EXPECT_EQ(r.agent.model, "VVX_500");
    EXPECT_EQ(r.agent.firmware, "5.9.7.4477");
}

TEST(FleetRecord, ClientTextIsCapped) {
    FleetEvent e = fetch("0004F2000001", kNow);
    e.path = "/" + std::string(1000, 'a');
    e.user_agent = std::string(1000, 'u');
    e.label = std::string(1000, 'l');
    e.method = std::string(100, 'M');
    e.address = std::string(100, '1');
    const DeviceRecord r = record_of(e);
    EXPECT_EQ(r.latest.request.path.size(), kMaxPath);
    EXPECT_EQ(r.latest.user_agent.size(), kMaxUserAgent);
    EXPECT_EQ(r.latest.label.size(), kMaxLabel);
    EXPECT_EQ(r.latest.request.method.size(), kMaxMethod);
    EXPECT_EQ(r.latest.address.size(), kMaxAddress);
    EXPECT_TRUE(decode_device_record(encode(r)));
    // A cut never splits a UTF-8 character that was whole.
    e.user_agent = std::string(kMaxUserAgent - 1, 'u') + "\xC3\xA9";
    EXPECT_EQ(record_of(e).latest.user_agent, std::string(kMaxUserAgent - 1, 'u'));
}

TEST(FleetRecord, MergeIsOrderIndependent) {
    std::mt19937 rng(20260101);
    const Mac m = mac("0004F2000001");
    for (int round = 0; round < 300; ++round) {
        const DeviceRecord a = random_record(rng, m), b = random_record(rng, m), c = random_record(rng, m);
        DeviceRecord ab = a, ba = b;
        merge(ab, b);
        merge(ba, a);
        EXPECT_EQ(encode(ab), encode(ba)) << "round " << round;
        DeviceRecord ab_c = ab, a_bc = a, bc = b;
        merge(ab_c, c);
        merge(bc, c);
        merge(a_bc, bc);
        // Equal but for the probes list, which keeps only its newest entries.
        DeviceRecord x = ab_c, y = a_bc;
        x.probes.clear();
        y.probes.clear();
        EXPECT_EQ(encode(x), encode(y)) << "round " << round;
    }
}

TEST(FleetRecord, EventsInAnyOrderGiveTheSameRecord) {
    std::vector<FleetEvent> events;
    for (int i = 0; i < 5; ++i) events.push_back(fetch("0004F2000001", kNow + i * 10));
    events[2].decision = FleetDecision::mac_mismatch;
    events[2].path = "/0004F2000002.cfg";
    events[4].address = "192.0.2.99";
    DeviceRecord forward(mac("0004F2000001")), backward(mac("0004F2000001"));
    for (const auto& e : events) apply(forward, e);
    for (auto it = events.rbegin(); it != events.rend(); ++it) apply(backward, *it);
    EXPECT_EQ(encode(forward), encode(backward));
    EXPECT_EQ(forward.latest.address, "192.0.2.99");
    EXPECT_EQ(forward.first_seen, us(kNow));
    EXPECT_EQ(forward.latest.time, us(kNow + 40));
}

// apply() writes the common case in place: it must give what merging the
// event's own record gives, whether the event is newer, older or as old
// as what the record holds, and whatever it decided.
TEST(FleetRecord, ApplyIsMergingTheEventsOwnRecord) {
    std::mt19937 rng(11);
    const Mac m = mac("0004F2000001");
    int in_place = 0;
    for (int round = 0; round < 3000; ++round) {
        DeviceRecord r = random_record(rng, m);
        // As another writer's record may come: probes in any order.
        if (rng() % 2) std::shuffle(r.probes.begin(), r.probes.end(), rng);
        FleetEvent e = random_event(rng, m);
        switch (rng() % 4) {
        case 0: e.time = r.latest.time; break;                     // a tie
        case 1: e.time = r.last_activity() + 1 + rng() % 5; break; // newer than all
        default: break;                                            // anywhere
        }
        if (rng() % 3 == 0) e.user_agent = std::string(300, 'x') + "\xC3\xA9 PolycomVVX-VVX_400-UA/6.4.0.1 ";
        if (rng() % 5 == 0) e.path = "/" + std::string(300, 'p');
        DeviceRecord applied = r, merged = r;
        apply(applied, e);
        merge(merged, record_of(e));
        ASSERT_EQ(encode(applied), encode(merged)) << "round " << round;
        in_place += e.decision == FleetDecision::allow && e.authenticated && e.time > r.last_activity();
    }
    EXPECT_GT(in_place, 100);  // the case written in place was met often
}

TEST(FleetRecord, EncodeDecodeRoundTrips) {
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
        const DeviceRecord r = random_record(rng, mac("0004F2000001"));
        const std::string bytes = encode(r);
        const auto back = decode_device_record(bytes);
        ASSERT_TRUE(back);
        EXPECT_EQ(encode(*back), bytes);
    }
}

TEST(FleetRecord, DecodeRefusesWhatEncodeDidNotWrite) {
    std::mt19937 rng(11);
    const std::string bytes = encode(random_record(rng, mac("0004F2000001")));
    EXPECT_FALSE(decode_device_record(""));
    for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode_device_record(bytes.substr(0, n))) << n;
    EXPECT_FALSE(decode_device_record(bytes + '\0'));
    std::string other_version = bytes;
    other_version[0] = 2;
    EXPECT_FALSE(decode_device_record(other_version));
    std::string other_kind = bytes;
    other_kind[1] = 'I';
    EXPECT_FALSE(decode_device_record(other_kind));
    // Every single-byte change either fails or decodes to something that
    // encodes back to itself: never a half-read record.
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        for (const unsigned char flip : {0x01, 0x80, 0xFF}) {
            std::string damaged = bytes;
            damaged[i] = static_cast<char>(damaged[i] ^ flip);
            if (const auto r = decode_device_record(damaged)) {
                EXPECT_EQ(encode(*r), damaged) << i;
            }
        }
    }
}

// Records written before not-shared hold eight denial counts ('D'); they
// still read, with not-shared at 0.
TEST(FleetRecord, ReadsRecordsWithEightDenials) {
    DeviceRecord r = record_of(fetch("0004F2000001", kNow));
    for (std::size_t i = 1; i < 8; ++i) r.denials[i] = static_cast<std::uint32_t>(100 + i);
    const std::string bytes = encode(r);
    std::string counts = "\x09";
    counts += '\0';
    for (std::size_t i = 1; i < 8; ++i) counts += static_cast<char>(100 + i);
    counts += '\0';
    const std::size_t at = bytes.find(counts);
    ASSERT_NE(at, std::string::npos);
    ASSERT_EQ(bytes[1], 'E');
    std::string old = bytes;
    old[1] = 'D';
    old.replace(at, counts.size(), counts.substr(1, 8));
    const auto back = decode_device_record(old);
    ASSERT_TRUE(back);
    for (std::size_t i = 1; i < 8; ++i) EXPECT_EQ(back->denials[i], 100 + i);
    EXPECT_EQ(back->denials[static_cast<std::size_t>(FleetDecision::not_shared)], 0u);
    r.denials[static_cast<std::size_t>(FleetDecision::not_shared)] = 7;
    EXPECT_EQ(decode_device_record(encode(r))->denials[8], 7u);
    // An 'E' record with another number of counts is not one this code
    // writes (found by fuzz_fleet_record): refused.
    std::string fewer = bytes;
    fewer.replace(at, counts.size(), "\x08" + counts.substr(1, 8));
    EXPECT_FALSE(decode_device_record(fewer));
}
