// The documents the status handler serves, read back with the same JSON
// reader the tool uses.
#include <gtest/gtest.h>

#include <algorithm>

#include <polyprov/fleet_render.hpp>
#include <polyprov/json_reader.hpp>

#include "fleet_test_support.hpp"

using namespace polyprov;
using namespace polyprov::test;

namespace {

// A small fleet: a healthy phone, an expired phone the waiver carries, a
// pinned phone, an unlisted MAC, a probe, and a hostile User-Agent.
FleetSnapshot sample_fleet() {
    FleetSnapshot s;
    s.nodes = {"web1:443"};
    DeviceRecord ok = record_of(fetch("0004F2000001", kNow - 3600));
    FleetEvent put = fetch("0004F2000001", kNow - 60, "/logs/0004F2000001-app.log");
    put.method = "PUT";
    put.status = 201;
    put.body_bytes = 42;
    apply(ok, put);
    FleetEvent probe = fetch("0004F2000001", kNow - 30, "/0004F2000002.cfg");
    probe.decision = FleetDecision::mac_mismatch;
    probe.status = 403;
    apply(ok, probe);
    s.records.push_back(ok);

    FleetEvent old = fetch("0004F2000003", kNow - 3 * 86400);
    old.label = "Room <12>";
    old.cert_not_after = kNow - 300 * 86400;
    old.cert_expired = old.waived = true;
    old.user_agent = "FileTransport PolycomSoundPointIP-SPIP_550-UA/4.0.15.1047 (SN:0004f2000003) Type/Application";
    s.records.push_back(record_of(old));

    FleetEvent pinned = fetch("0004F200000C", kNow - 120);
    pinned.pinned = true;
    pinned.cert_not_after = kNow + 10 * 86400;
    pinned.user_agent = "</td><script>alert('ua')</script>";
    pinned.path = "/\"><img src=x onerror=alert(1)>.cfg";
    s.records.push_back(record_of(pinned));

    FleetEvent unlisted = fetch("64167F000002", kNow - 10);
    unlisted.decision = FleetDecision::not_in_acl;
    unlisted.status = 403;
    s.records.push_back(record_of(unlisted));
    return s;
}

FleetPageContext context() {
    FleetPageContext c;
    c.node = "web1:443";
    c.now = kNow;
    return c;
}

}  // namespace

TEST(FleetRender, JsonHasTheContractsFields) {
    const std::string text = render_fleet_json(sample_fleet(), context());
    std::string error;
    const auto json = JsonValue::parse(text, error);
    ASSERT_TRUE(json) << error << "\n" << text;
    std::vector<std::string> top;
    for (const auto& [k, v] : json->object()) top.push_back(k);
    EXPECT_EQ(top, (std::vector<std::string>{"generated", "node", "total", "offset", "limit", "capacity", "devices",
                                             "refused", "probes"}));
    EXPECT_EQ(json->get("total")->number(), 3);
    EXPECT_TRUE(json->get("limit")->is_null());
    EXPECT_TRUE(json->get("capacity")->get("complete")->boolean());
    EXPECT_EQ(json->get("generated")->string(), "2026-01-01T00:00:00Z");
    EXPECT_EQ(json->get("node")->string(), "web1:443");

    const auto& devices = json->get("devices")->array();
    ASSERT_EQ(devices.size(), 3u);  // the unlisted MAC is no device
    std::vector<std::string> fields;
    for (const auto& [k, v] : devices[0].object()) fields.push_back(k);
    EXPECT_EQ(fields, (std::vector<std::string>{"mac", "label", "first_seen", "last_seen", "last_request",
                                                "last_config_fetch", "last_upload", "address", "user_agent", "model",
                                                "firmware", "cert_not_after", "cert_expired", "waived", "pinned",
                                                "denials"}));
    const JsonValue& ok = devices[0];
    EXPECT_EQ(ok.get("mac")->string(), "0004F2000001");
    EXPECT_EQ(ok.get("model")->string(), "VVX_500");
    EXPECT_EQ(ok.get("firmware")->string(), "5.9.7.4477");
    EXPECT_EQ(ok.get("last_request")->get("path")->string(), "/0004F2000002.cfg");
    EXPECT_EQ(ok.get("last_request")->get("status")->number(), 403);
    EXPECT_EQ(ok.get("last_request")->get("decision")->string(), "deny:mac-mismatch");
    EXPECT_EQ(ok.get("last_upload")->get("bytes")->number(), 42);
    EXPECT_EQ(ok.get("last_upload")->get("time")->string(), "2025-12-31T23:59:00Z");
    EXPECT_EQ(ok.get("last_config_fetch")->string(), "2025-12-31T23:00:00Z");
    EXPECT_EQ(ok.get("denials")->get("mac-mismatch")->number(), 1);
    EXPECT_EQ(ok.get("denials")->object().size(), 1u);

    const JsonValue& old = devices[1];
    EXPECT_EQ(old.get("label")->string(), "Room <12>");
    EXPECT_TRUE(old.get("cert_expired")->boolean());
    EXPECT_TRUE(old.get("waived")->boolean());
    EXPECT_EQ(old.get("model")->string(), "SPIP_550");
    EXPECT_TRUE(old.get("last_upload")->get("time")->is_null());
    EXPECT_TRUE(old.get("last_upload")->get("bytes")->is_null());

    const JsonValue& pinned = devices[2];
    EXPECT_TRUE(pinned.get("pinned")->boolean());
    EXPECT_FALSE(pinned.get("cert_expired")->boolean());
    EXPECT_TRUE(pinned.get("model")->is_null());  // an unparseable User-Agent: kept as text
    EXPECT_EQ(pinned.get("user_agent")->string(), "</td><script>alert('ua')</script>");

    const auto& refused = json->get("refused")->array();
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].get("mac")->string(), "64167F000002");
    EXPECT_EQ(refused[0].get("reason")->string(), "not-in-acl");
    EXPECT_EQ(refused[0].get("count")->number(), 1);
    const auto& probes = json->get("probes")->array();
    ASSERT_EQ(probes.size(), 1u);
    EXPECT_EQ(probes[0].get("path")->string(), "/0004F2000002.cfg");
    EXPECT_EQ(probes[0].get("address")->string(), "192.0.2.10");

    // Nothing a client sent appears raw.
    EXPECT_EQ(text.find("<script>"), std::string::npos);
    EXPECT_EQ(text.find("<img"), std::string::npos);
}

TEST(FleetRender, EmptyFleet) {
    const std::string text = render_fleet_json(FleetSnapshot{}, context());
    EXPECT_EQ(text, "{\"generated\":\"2026-01-01T00:00:00Z\",\"node\":\"web1:443\",\"total\":0,\"offset\":0,"
                    "\"limit\":null,\"capacity\":{\"complete\":true,\"missing\":0,\"lost\":0,\"unreadable\":0,"
                    "\"nodes_without_manifest\":0,\"evicted\":0,\"last_eviction\":null,\"updates_dropped\":0,"
              "\"updates_dropped_fleet\":0},"
                    "\"devices\":[],\"refused\":[],\"probes\":[]}\n");
}

namespace {

// `n` healthy phones, 0004F2000000 onwards, labelled "desk N".
FleetSnapshot large_fleet(std::size_t n) {
    FleetSnapshot s;
    s.nodes = {"web1:443"};
    for (std::size_t i = 0; i < n; ++i) {
        char hex[13];
        std::snprintf(hex, sizeof hex, "%012llX", static_cast<unsigned long long>(0x0004F2000000ull + i));
        FleetEvent e = fetch(hex, kNow - 60);
        e.label = "desk " + std::to_string(i);
        s.records.push_back(record_of(e));
    }
    return s;
}

std::vector<std::string> macs_in(const std::string& json_text) {
    std::string error;
    const auto json = JsonValue::parse(json_text, error);
    std::vector<std::string> out;
    if (!json) return out;
    for (const auto& d : json->get("devices")->array()) out.push_back(d.get("mac")->string());
    return out;
}

}  // namespace

TEST(FleetRender, JsonOffsetAndLimitPageThroughTheWholeFleet) {
    const FleetSnapshot s = large_fleet(250);
    FleetPageContext c = context();
    std::vector<std::string> all;
    for (std::size_t offset = 0; offset < 300; offset += 100) {
        c.query.offset = offset;
        c.query.limit = 100;
        const std::string text = render_fleet_json(s, c);
        std::string error;
        EXPECT_EQ(JsonValue::parse(text, error)->get("total")->number(), 250);
        const auto page = macs_in(text);
        all.insert(all.end(), page.begin(), page.end());
    }
    ASSERT_EQ(all.size(), 250u);
    EXPECT_EQ(all.front(), "0004F2000000");
    EXPECT_EQ(all.back(), "0004F20000F9");
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    c.query.offset = 1000;  // past the end: empty, still the total
    EXPECT_TRUE(macs_in(render_fleet_json(s, c)).empty());
}

TEST(FleetRender, SearchMatchesMacInAnyNotationLabelModelAndAddress) {
    FleetSnapshot s = large_fleet(300);
    const auto count = [&](const char* q) { return select_devices(s, q).size(); };
    EXPECT_EQ(count(""), 300u);
    EXPECT_EQ(count("0004f200012b"), 1u);
    EXPECT_EQ(count("00:04:F2:00:01:2B"), 1u);
    EXPECT_EQ(count("desk 29"), 11u);  // 29, 290..299
    EXPECT_EQ(count("VVX_500"), 300u);
    EXPECT_EQ(count("5.9.7"), 300u);
    EXPECT_EQ(count("192.0.2.10"), 300u);
    EXPECT_EQ(count("nothing like it"), 0u);
    EXPECT_EQ(count(":"), 0u);  // separators alone match no MAC
    FleetPageContext c = context();
    c.query.search = "desk 29";
    EXPECT_EQ(macs_in(render_fleet_json(s, c)).size(), 11u);
}

TEST(FleetRender, CsvHasOneLinePerDeviceAndDefusesFormulas) {
    FleetSnapshot s = sample_fleet();
    FleetEvent hostile = fetch("0004F2000010", kNow - 5);
    hostile.label = "=HYPERLINK(\"http://x\",\"a, b\")";
    s.records.push_back(record_of(hostile));
    const std::string csv = render_fleet_csv(s, context());
    EXPECT_EQ(csv.rfind("mac,label,model,firmware,", 0), 0u);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 4);  // header and four devices
    EXPECT_NE(csv.find("\"'=HYPERLINK(\"\"http://x\"\",\"\"a, b\"\")\""), std::string::npos) << csv;
    EXPECT_NE(csv.find("0004F2000001,desk,VVX_500,5.9.7.4477,"), std::string::npos) << csv;
    // A ';' (the separator of some locales) is quoted, so no field starts with '=' there either.
    FleetEvent semicolon = fetch("0004F2000011", kNow - 5);
    semicolon.user_agent = "Polycom;=HYPERLINK(1)";
    s.records.push_back(record_of(semicolon));
    EXPECT_NE(render_fleet_csv(s, context()).find(",\"Polycom;=HYPERLINK(1)\","), std::string::npos);
}

TEST(FleetRender, HtmlShowsOnePageOfAHundredThousand) {
    const FleetSnapshot s = large_fleet(100000);
    FleetPageContext c = context();
    c.query.page = 7;
    const std::string html = render_fleet_html(s, summarize(s, kNow, c.query), c);
    EXPECT_LT(html.size(), 400000u);  // a page, not the fleet
    EXPECT_NE(html.find("601\xE2\x80\x93" "700 of 100000 devices"), std::string::npos);
    EXPECT_NE(html.find("page 7 of 1000"), std::string::npos);
    EXPECT_NE(html.find(">0004F2000258<"), std::string::npos);  // the 601st
    EXPECT_EQ(html.find(">0004F20002BC<"), std::string::npos);  // the 701st
    EXPECT_NE(html.find("href=\"?page=8#devices-section\""), std::string::npos);
    EXPECT_NE(html.find("href=\"?page=1000#devices-section\""), std::string::npos);
    // The tiles count the whole fleet.
    EXPECT_NE(html.find("<dt>Devices</dt><dd>100000"), std::string::npos);
    c.query.search = "desk 4242";
    c.query.page = 1;
    const std::string found = render_fleet_html(s, summarize(s, kNow, c.query), c);
    EXPECT_NE(found.find("1\xE2\x80\x93" "11 of 11 matching"), std::string::npos);
    EXPECT_NE(found.find("value=\"desk 4242\""), std::string::npos);
}

TEST(FleetRender, AnIncompleteViewSaysSo) {
    FleetSnapshot s = sample_fleet();
    FleetPageContext c = context();
    auto html = [&] { return render_fleet_html(s, summarize(s, kNow, c.query), c); };
    EXPECT_EQ(html().find("id=\"capacity\""), std::string::npos);
    s.lost = 40;
    s.missing = 2;
    EXPECT_NE(html().find("42 device record(s)"), std::string::npos);
    s.lost = s.missing = 0;
    s.evicted = 7;
    s.last_eviction = kNow - 100;
    EXPECT_EQ(html().find("id=\"capacity\""), std::string::npos);  // long ago, as the reader decided
    s.evicted_lately = true;
    EXPECT_NE(html().find("evicted 7 index"), std::string::npos);
    std::string error;
    const auto json = JsonValue::parse(render_fleet_json(s, c), error);
    EXPECT_FALSE(json->get("capacity")->get("complete")->boolean());
    EXPECT_EQ(json->get("capacity")->get("evicted")->number(), 7);
}

TEST(FleetRender, Counters) {
    const FleetSnapshot s = sample_fleet();
    FleetPageContext c = context();
    c.dropped_updates = 3;
    const FleetSummary summary = summarize(s, kNow, c.query);
    const std::string text = render_fleet_counters(s, summary, c);
    EXPECT_NE(text.find("Devices: 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("DevicesNotSeen: 1\n"), std::string::npos) << text;  // the expired phone, 3 days ago
    EXPECT_NE(text.find("CertificatesExpired: 1\n"), std::string::npos);
    EXPECT_NE(text.find("CertificatesExpiredWaived: 1\n"), std::string::npos);
    EXPECT_NE(text.find("CertificatesExpiring: 1\n"), std::string::npos);  // the pinned phone, in 10 days
    EXPECT_NE(text.find("Refused: 1\n"), std::string::npos);
    EXPECT_NE(text.find("Probes: 1\n"), std::string::npos);
    EXPECT_NE(text.find("FirmwareVersions: 2\n"), std::string::npos);
    EXPECT_NE(text.find("UpdatesDropped: 3\n"), std::string::npos);
}

TEST(FleetRender, SummaryCountsFirmwareAndModels) {
    const FleetSummary s = summarize(sample_fleet(), kNow, FleetQuery{});
    EXPECT_EQ(s.firmware.at("5.9.7.4477"), 1u);
    EXPECT_EQ(s.firmware.at("4.0.15.1047"), 1u);
    EXPECT_EQ(s.firmware.at(""), 1u);
    EXPECT_EQ(s.models.at("SPIP_550"), 1u);
    FleetQuery wider;
    wider.not_seen_hours = 100;
    EXPECT_EQ(summarize(sample_fleet(), kNow, wider).not_seen, 0u);
}

TEST(FleetRender, HtmlEscapesAndIsSelfContained) {
    const FleetSnapshot s = sample_fleet();
    const FleetPageContext c = context();
    const std::string html = render_fleet_html(s, summarize(s, kNow, c.query), c);
    EXPECT_EQ(html.find("<script>alert"), std::string::npos);
    EXPECT_EQ(html.find("<img src=x"), std::string::npos);
    EXPECT_NE(html.find("&lt;/td&gt;&lt;script&gt;alert(&#39;ua&#39;)&lt;/script&gt;"), std::string::npos);
    EXPECT_NE(html.find("Room &lt;12&gt;"), std::string::npos);
    for (const char* external : {"http://", "https://", "src=\"", "<link", "@import", "url("})
        EXPECT_EQ(html.find(external), std::string::npos) << external;
    for (const char* id : {"id=\"not-seen\"", "id=\"certificates\"", "id=\"refused\"", "id=\"probes\"",
                           "id=\"firmware\"", "id=\"models\"", "id=\"devices\""})
        EXPECT_NE(html.find(id), std::string::npos) << id;
    EXPECT_NE(html.find("carried by the waiver"), std::string::npos);
    // Exactly one script and one style, and the CSP names both by hash.
    EXPECT_EQ(html.find("<script>"), html.rfind("<script>"));
    EXPECT_NE(fleet_page_csp().find("script-src 'sha256-"), std::string::npos);
    EXPECT_NE(fleet_page_csp().find("default-src 'none'"), std::string::npos);
}

TEST(FleetQueryString, FormatsAndLimits) {
    std::string error;
    EXPECT_EQ(parse_fleet_query("", error)->format, FleetQuery::Format::html);
    EXPECT_EQ(parse_fleet_query("json", error)->format, FleetQuery::Format::json);
    EXPECT_EQ(parse_fleet_query("auto", error)->format, FleetQuery::Format::counters);
    const auto q = parse_fleet_query("hours=48&days=7&refresh=5", error);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->not_seen_hours, 48);
    EXPECT_EQ(q->expiring_days, 7);
    const auto paged = parse_fleet_query("csv&q=00%3A04+f2&page=3&per_page=50&offset=10&limit=20", error);
    ASSERT_TRUE(paged) << error;
    EXPECT_EQ(paged->format, FleetQuery::Format::csv);
    EXPECT_EQ(paged->search, "00:04 f2");
    EXPECT_EQ(paged->page, 3u);
    EXPECT_EQ(paged->per_page, 50u);
    EXPECT_EQ(paged->offset, 10u);
    EXPECT_EQ(*paged->limit, 20u);
    EXPECT_FALSE(parse_fleet_query("", error)->limit);
    for (const char* bad : {"hours=", "hours=0", "hours=x", "days=3651", "days=-1", "hours=99999999", "page=0",
                            "per_page=1001", "limit=0", "offset=-1", "q=%4", "q=%zz", "q=a%0Ab",
                            "q=0123456789012345678901234567890123456789012345678901234567890123456789"}) {
        error.clear();
        EXPECT_FALSE(parse_fleet_query(bad, error)) << bad;
        EXPECT_FALSE(error.empty());
    }
}
