#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include <polyprov/fleet_summary.hpp>
#include <polyprov/server_metrics.hpp>

#include "fleet_test_support.hpp"

using namespace polyprov;
using namespace polyprov::test;

namespace {

// sample line ("name{labels}") -> value; and every family's TYPE.
struct Parsed {
    std::map<std::string, std::string> samples;
    std::map<std::string, std::string> types;
    std::map<std::string, int> helps;
};

Parsed parse(const std::string& text) {
    Parsed p;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("# TYPE ", 0) == 0) {
            const auto rest = line.substr(7);
            p.types[rest.substr(0, rest.find(' '))] = rest.substr(rest.find(' ') + 1);
        } else if (line.rfind("# HELP ", 0) == 0) {
            const auto rest = line.substr(7);
            ++p.helps[rest.substr(0, rest.find(' '))];
        } else {
            const auto space = line.rfind(' ');
            p.samples[line.substr(0, space)] = line.substr(space + 1);
        }
    }
    return p;
}

}  // namespace

TEST(ServerMetrics, CountersWithoutAFleetView) {
    ServerCounters c;
    c.decisions[static_cast<std::size_t>(FleetDecision::allow)] = 41;
    c.decisions[static_cast<std::size_t>(FleetDecision::not_shared)] = 2;
    c.waived_handshakes = 3;
    c.uploads = 4;
    c.upload_bytes = 5000;
    c.fleet_updates_dropped = 6;
    c.fleet_write_failures = 7;
    c.since = 1700000000;
    const std::string text = render_metrics(c, nullptr);
    ASSERT_EQ(text.back(), '\n');
    const Parsed p = parse(text);
    EXPECT_EQ(p.samples.at("polyprov_decisions_total{decision=\"allow\"}"), "41");
    EXPECT_EQ(p.samples.at("polyprov_decisions_total{decision=\"deny:not-shared\"}"), "2");
    EXPECT_EQ(p.samples.at("polyprov_decisions_total{decision=\"deny:mac-mismatch\"}"), "0") << "listed at 0";
    std::size_t decisions = 0;
    for (const auto& [name, value] : p.samples) decisions += name.rfind("polyprov_decisions_total{", 0) == 0;
    EXPECT_EQ(decisions, kFleetDecisions);
    EXPECT_EQ(p.samples.at("polyprov_waived_handshakes_total"), "3");
    EXPECT_EQ(p.samples.at("polyprov_uploads_total"), "4");
    EXPECT_EQ(p.samples.at("polyprov_upload_bytes_total"), "5000");
    EXPECT_EQ(p.samples.at("polyprov_fleet_updates_dropped_total"), "6");
    EXPECT_EQ(p.samples.at("polyprov_fleet_cache_write_failures_total"), "7");
    EXPECT_EQ(p.samples.at("polyprov_counters_reset_timestamp_seconds"), "1700000000");
    EXPECT_EQ(p.samples.count("polyprov_fleet_cache_up"), 0u);
    EXPECT_EQ(p.samples.count("polyprov_devices"), 0u);
    for (const auto& [family, type] : p.types) {
        EXPECT_EQ(p.helps.at(family), 1) << family;
        EXPECT_EQ(type == "counter", family.size() > 6 && family.substr(family.size() - 6) == "_total") << family;
    }
}

TEST(ServerMetrics, TheFleetsGauges) {
    FleetSnapshot snapshot;
    snapshot.nodes = {"node-a", "node-b"};
    DeviceRecord prober = record_of(fetch("0004F2000001", kNow));
    prober.probes.push_back(Probe{"192.0.2.1", "/0004F2000002.cfg", 3, us(kNow)});
    snapshot.records = {prober, record_of(fetch("0004F2000002", kNow - 3 * 86400))};
    FleetPageContext context;
    context.now = kNow;
    const FleetSummary summary = summarize(snapshot, kNow, context.query);
    const FleetMetrics fleet{&snapshot, &summary, &context};
    const Parsed p = parse(render_metrics(ServerCounters{}, &fleet));
    EXPECT_EQ(p.samples.at("polyprov_fleet_cache_up"), "1");
    EXPECT_EQ(p.samples.at("polyprov_devices"), "2");
    EXPECT_EQ(p.samples.at("polyprov_devices_not_seen{hours=\"24\"}"), "1");
    EXPECT_EQ(p.samples.at("polyprov_certificates_expiring{days=\"30\"}"), std::to_string(summary.expiring));
    EXPECT_EQ(p.samples.at("polyprov_probing_devices"), "1");
    EXPECT_EQ(p.samples.at("polyprov_fleet_nodes"), "2");
    EXPECT_EQ(p.samples.at("polyprov_fleet_view_complete"), "1");
    EXPECT_EQ(p.types.at("polyprov_devices"), "gauge");

    const FleetMetrics down{nullptr, nullptr, &context};
    const Parsed q = parse(render_metrics(ServerCounters{}, &down));
    EXPECT_EQ(q.samples.at("polyprov_fleet_cache_up"), "0");
    EXPECT_EQ(q.samples.count("polyprov_devices"), 0u) << "no figure rather than a false 0";
    EXPECT_EQ(q.samples.count("polyprov_uploads_total"), 1u);
}

TEST(ServerMetrics, TheQueryAsksForIt) {
    std::string error;
    EXPECT_EQ(parse_fleet_query("metrics", error)->format, FleetQuery::Format::metrics);
    EXPECT_EQ(parse_fleet_query("metrics&hours=48", error)->not_seen_hours, 48);
}
