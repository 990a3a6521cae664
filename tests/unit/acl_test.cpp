#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <polyprov/acl.hpp>
#include <polyprov/error.hpp>

using namespace polyprov;

namespace {
const std::string kFp = "AB12CD34EF56AB12CD34EF56AB12CD34EF56AB12CD34EF56AB12CD34EF56AB12";

std::string parse_error(const std::string& text) {
    try {
        Acl::parse(text, "phones.acl");
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}
Mac mac(const char* s) { return *Mac::parse(s); }
}  // namespace

TEST(Acl, ParsesEveryNotationLabelsPinsAndComments) {
    const std::string fp_colons = "ab:12:cd:34:ef:56:ab:12:cd:34:ef:56:ab:12:cd:34:ef:56:ab:12:cd:34:ef:56:ab:12:cd:34:ef:56:ab:12";
    const auto acl = Acl::parse(
        "# phones of the second floor\n"
        "\n"
        "0004F2000001\n"
        "00:04:f2:00:00:02 label=reception   # front desk\n"
        "00-04-F2-00-00-03 label=\"Room 12 # not a comment\"\r\n"
        "0004.f200.0004 sha256=" + kFp + " label=legacy\n"
        "0004f2000005\tsha256=" + fp_colons + "\n"
        "   \t  \n",
        "phones.acl");
    EXPECT_EQ(acl.size(), 5u);
    EXPECT_EQ(acl.find(mac("0004F2000001"))->label, "");
    EXPECT_EQ(acl.find(mac("0004F2000002"))->label, "reception");
    EXPECT_EQ(acl.find(mac("0004F2000003"))->label, "Room 12 # not a comment");
    EXPECT_EQ(acl.find(mac("0004F2000004"))->label, "legacy");
    EXPECT_EQ(fingerprint_hex(*acl.find(mac("0004F2000004"))->pin), kFp);
    EXPECT_EQ(fingerprint_hex(*acl.find(mac("0004F2000005"))->pin), kFp);
    EXPECT_EQ(acl.find(mac("0004F2000004"))->line, 6);
    EXPECT_EQ(acl.find(mac("0004F2000006")), nullptr);
}

TEST(Acl, ErrorsNameFileLineAndReason) {
    EXPECT_EQ(parse_error("0004F2000001\n0004F200001\n"),
              "phones.acl:2: '0004F200001' is not a MAC address (12 hex digits, or 00:04:f2:.., 00-04-F2-.., 0004.f2..)");
    EXPECT_EQ(parse_error("0004F2000001\n# x\n00:04:F2:00:00:01\n"),
              "phones.acl:3: duplicate MAC 0004F2000001 (first on line 1)");
    EXPECT_EQ(parse_error("0004F2000001 colour=blue\n"), "phones.acl:1: unknown key 'colour' (known: label, sha256)");
    EXPECT_EQ(parse_error("0004F2000001 label=a label=b\n"), "phones.acl:1: label given twice");
    EXPECT_EQ(parse_error("0004F2000001 label=\n"), "phones.acl:1: label is empty or holds control characters");
    EXPECT_EQ(parse_error("0004F2000001 label=\"open\n"), "phones.acl:1: unterminated quote");
    EXPECT_EQ(parse_error("0004F2000001 reception\n"), "phones.acl:1: 'reception' is not key=value");
    EXPECT_EQ(parse_error("0004F2000001 sha256=1234\n"),
              "phones.acl:1: sha256 '1234' is not 64 hex digits (colons between pairs allowed)");
    EXPECT_EQ(parse_error("0004F2000001 sha256=" + kFp.substr(0, 63) + "G\n").substr(0, 27), "phones.acl:1: sha256 'AB12C");
}

TEST(Acl, FingerprintForms) {
    EXPECT_TRUE(parse_fingerprint(kFp).has_value());
    EXPECT_FALSE(parse_fingerprint(kFp + "0").has_value());
    EXPECT_FALSE(parse_fingerprint("AB:12" + std::string(90, 'A')).has_value());
    EXPECT_FALSE(parse_fingerprint("").has_value());
}

TEST(Acl, HundredThousandDevicesLoadAndLookUpFast) {
    std::string text;
    text.reserve(100000 * 40);
    char line[64];
    for (unsigned i = 0; i < 100000; ++i) {
        std::snprintf(line, sizeof line, "0004F2%06X label=phone-%u\n", i, i);
        text += line;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto acl = Acl::parse(text, "big.acl");
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_EQ(acl.size(), 100000u);
    std::size_t hits = 0;
    for (unsigned i = 0; i < 200000; ++i) hits += acl.find(*Mac::parse(std::string("0004F2") + [&] {
        std::snprintf(line, sizeof line, "%06X", i);
        return std::string(line);
    }())) != nullptr;
    const auto t2 = std::chrono::steady_clock::now();
    EXPECT_EQ(hits, 100000u);
    // Figures for the record, not assertions: machines here are shared.
    std::printf("[ figures  ] 100000-entry ACL parsed in %.1f ms; %.0f ns per lookup (incl. MAC parse)\n",
                std::chrono::duration<double, std::milli>(t1 - t0).count(),
                std::chrono::duration<double, std::nano>(t2 - t1).count() / 200000);
}
