#include <gtest/gtest.h>

#include <polyprov/error.hpp>
#include <polyprov/mac_pattern.hpp>

using namespace polyprov;

namespace {
const MacPattern& def() {
    static const MacPattern p = MacPattern::compile(MacPattern::kDefault);
    return p;
}
std::optional<std::string> cn_mac(const char* cn) {
    const auto mac = device_mac_from_cn(cn, def());
    return mac ? std::optional<std::string>(mac->str()) : std::nullopt;
}
}  // namespace

TEST(MacPattern, FindsRunsAndSeparatedNotations) {
    const auto found = def().find_all("/a/0004f2000001-boot.log/00:04:F2:00:00:02/0004.f200.0003/x");
    ASSERT_EQ(found.size(), 3u);
    EXPECT_EQ(found[0].mac->str(), "0004F2000001");
    EXPECT_EQ(found[1].mac->str(), "0004F2000002");
    EXPECT_EQ(found[2].mac->str(), "0004F2000003");
}

TEST(MacPattern, LongerRunsAreFoundWholeAndNameNoMac) {
    const auto found = def().find_all("/0004F20000010.cfg");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].text, "0004F20000010");
    EXPECT_FALSE(found[0].mac.has_value());
}

TEST(MacPattern, MixedSeparatorsNameNoMac) {
    const auto found = def().find_all("00:04-F2:00:00:01");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_FALSE(found[0].mac.has_value());
}

TEST(MacPattern, ShortRunsAreNotMacs) {
    EXPECT_TRUE(def().find_all("/3111-40250-001.sip.ld/sip.ld/VVX400-0004F2.cfg").empty());
}

TEST(MacPattern, CaptureGroupNarrowsTheMatch) {
    const auto p = MacPattern::compile("phone-([0-9a-f]{12})\\.cfg");
    const auto found = p.find_all("/x/phone-0004f2000001.cfg");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].text, "0004f2000001");
}

TEST(MacPattern, BadRegexIsAnError) {
    try {
        MacPattern::compile("([0-9a-f");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'([0-9a-f' is not a valid regular expression"), std::string::npos);
    }
}

TEST(MacPattern, CnNamesExactlyOneDevice) {
    EXPECT_EQ(cn_mac("0004F2000001"), "0004F2000001");
    EXPECT_EQ(cn_mac("0004f2000001"), "0004F2000001");          // lower-case CN
    EXPECT_EQ(cn_mac("SEP0004F2000001"), "0004F2000001");       // Cisco style
    EXPECT_EQ(cn_mac("00:04:f2:00:00:01"), "0004F2000001");
    EXPECT_EQ(cn_mac("0004F2000001 0004f2000001"), "0004F2000001");  // the same MAC twice
    EXPECT_EQ(cn_mac(""), std::nullopt);
    EXPECT_EQ(cn_mac("Polycom VVX"), std::nullopt);
    EXPECT_EQ(cn_mac("0004F2000001 0004F2000002"), std::nullopt);  // two devices
    EXPECT_EQ(cn_mac("0004F20000011"), std::nullopt);              // 13 digits
}

TEST(MacPattern, TheDefaultScanFindsWhatTheRegexFinds) {
    // The linear scan that replaces the regex for the default pattern, on
    // the cases that shaped the pattern (the fuzzer tries the rest).
    for (const char* text :
         {"", "/", "0004F2000001", "/0004F2000001.cfg", "/00040004F2000001.cfg", "/0004F20000011.cfg",
          "00-04-F2-AA-BB-0004F2586A4B.cfg", "/00-04-F2-AA-BB-00.cfg", "/x00-04-F2-AA-BB-00/0004F2586A4B",
          "00:04-F2:00:00:01", "00:04:F2:00:00:01x", "00:04:F2:00:00:011", "0004.f200.0003", "0004.f200.00034",
          "x0004.f200.0003.", "aaaa.bbbb.cccc.dddd", "12:34:56:78:9a:bc:de", "ab-cd-ef-01-23-456",
          "/3111-40250-001.sip.ld/sip.ld/VVX400-0004F2.cfg", "SEP0004F2000001", "0004F2000001 0004f2000001",
          "g0004F2000001g", "::00:04:f2:00:00:01::", "/tmp/polyprov-httpd-x4wurukd/htdocs/0004F2000001.cfg"}) {
        const auto scanned = def().find_all(text);
        const auto reference = def().find_all_by_regex(text);
        ASSERT_EQ(scanned.size(), reference.size()) << text;
        for (std::size_t i = 0; i < scanned.size(); ++i) {
            EXPECT_EQ(scanned[i].text, reference[i].text) << text;
            EXPECT_EQ(scanned[i].mac, reference[i].mac) << text;
        }
    }
}

TEST(MacPattern, EachMatchStopsWhenToldAndSaysSo) {
    const std::string_view text = "/0004F2000001/0004F2000002/0004F2000003.cfg";
    std::vector<std::string_view> seen;
    const bool finished = def().each_match(text, [&](const MacPattern::Match& m) {
        seen.push_back(m.text);
        return seen.size() < 2;
    });
    EXPECT_FALSE(finished);
    EXPECT_EQ(seen, (std::vector<std::string_view>{"0004F2000001", "0004F2000002"}));
    EXPECT_TRUE(def().each_match(text, [](const MacPattern::Match&) { return true; }));

    // A pattern of the operator's own goes through Boost.Regex the same way.
    const MacPattern custom = MacPattern::compile("SEP([0-9A-F]{12})");
    seen.clear();
    EXPECT_FALSE(custom.each_match("SEP0004F2000001 SEP0004F2000002", [&](const MacPattern::Match& m) {
        seen.push_back(m.text);
        return false;
    }));
    EXPECT_EQ(seen, (std::vector<std::string_view>{"0004F2000001"}));
}
