#include <gtest/gtest.h>

#include <polyprov/fleet_report.hpp>
#include <polyprov/json_reader.hpp>

using namespace polyprov;

namespace {

const char* kFleet = R"({"generated":"2026-01-01T00:00:00Z","node":"web1:443","devices":[
{"mac":"0004F2000001","label":"desk","first_seen":"2025-12-01T00:00:00Z","last_seen":"2025-12-31T23:00:00Z",
 "last_request":{"method":"GET","path":"/0004F2000001.cfg","status":200,"decision":"allow"},
 "last_config_fetch":"2025-12-31T23:00:00Z","last_upload":{"time":null,"bytes":null},"address":"192.0.2.10",
 "user_agent":"x","model":"VVX_500","firmware":"5.9.7.4477","cert_not_after":"2035-01-01T00:00:00Z",
 "cert_expired":false,"waived":false,"pinned":false,"denials":{}},
{"mac":"0004F2000003","label":null,"first_seen":null,"last_seen":"2025-12-30T00:00:00Z","last_request":null,
 "last_config_fetch":null,"last_upload":null,"address":null,"user_agent":null,"model":null,"firmware":null,
 "cert_not_after":"2025-01-01T00:00:00Z","cert_expired":true,"waived":true,"pinned":false,"denials":{}},
{"mac":"0004F200000C","label":"old","first_seen":null,"last_seen":null,"last_request":null,
 "last_config_fetch":null,"last_upload":null,"address":null,"user_agent":null,"model":null,"firmware":null,
 "cert_not_after":"2026-01-11T00:00:00Z","cert_expired":false,"waived":false,"pinned":true,"denials":{}}],
"refused":[{"mac":"64167F000002","reason":"not-in-acl","count":3,"last_seen":null,"address":null}],
"probes":[{"mac":"0004F2000001","address":"a","path":"/p","count":4,"last_seen":null}]})";

}  // namespace

TEST(FleetReport, ReadsTheModulesJson) {
    std::string error;
    const auto json = JsonValue::parse(kFleet, error);
    ASSERT_TRUE(json) << error;
    const auto report = read_fleet_report(*json, error);
    ASSERT_TRUE(report) << error;
    EXPECT_EQ(report->node, "web1:443");
    ASSERT_EQ(report->devices.size(), 3u);
    EXPECT_EQ(report->devices[0].model, "VVX_500");
    EXPECT_EQ(report->refused, 1u);
    EXPECT_EQ(report->probes, 1u);
    EXPECT_EQ(report->probe_requests, 4u);

    const UnixTime now = 1767225600;  // 2026-01-01
    const auto within30 = expiring_devices(*report, now, 30);
    ASSERT_EQ(within30.size(), 2u);
    EXPECT_EQ(within30[0].device->mac, "0004F2000003");  // soonest first: already expired
    EXPECT_TRUE(within30[0].expired);
    EXPECT_FALSE(within30[0].needs_attention);  // the waiver carries it
    EXPECT_EQ(within30[1].device->mac, "0004F200000C");
    EXPECT_TRUE(within30[1].needs_attention);
    const ReportSummary summary = summarize_report(*report, now, 24, 30);
    EXPECT_EQ(summary.devices, 3u);
    EXPECT_EQ(summary.not_seen, 2u);  // one seen 2 days ago, one never
    EXPECT_EQ(summary.expired, 1u);
    EXPECT_EQ(summary.expired_waived, 1u);
    EXPECT_EQ(summary.expiring, 1u);
    EXPECT_EQ(summary.firmware.at("5.9.7.4477"), 1u);
    EXPECT_EQ(summary.firmware.at(""), 2u);
    const auto within5 = expiring_devices(*report, now, 5);
    ASSERT_EQ(within5.size(), 1u);
    EXPECT_FALSE(within5[0].needs_attention);
}

TEST(FleetReport, RefusesOtherDocuments) {
    for (const char* doc : {"[]", "{}", R"({"generated":"x","node":"n","devices":[],"refused":[],"probes":[]})",
                            R"({"generated":null,"node":"n","devices":[{}],"refused":[],"probes":[]})",
                            R"({"generated":null,"node":"n","devices":[],"refused":{},"probes":[]})"}) {
        std::string error;
        const auto json = JsonValue::parse(doc, error);
        ASSERT_TRUE(json) << doc;
        EXPECT_FALSE(read_fleet_report(*json, error)) << doc;
        EXPECT_FALSE(error.empty());
    }
}
