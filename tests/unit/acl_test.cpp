#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
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
    EXPECT_EQ(acl.find(mac("0004F2000001"))->label(), std::string(""));
    EXPECT_EQ(acl.find(mac("0004F2000002"))->label(), std::string("reception"));
    EXPECT_EQ(acl.find(mac("0004F2000003"))->label(), std::string("Room 12 # not a comment"));
    EXPECT_EQ(acl.find(mac("0004F2000004"))->label(), std::string("legacy"));
    EXPECT_EQ(fingerprint_hex(*acl.find(mac("0004F2000004"))->pin()), kFp);
    EXPECT_EQ(fingerprint_hex(*acl.find(mac("0004F2000005"))->pin()), kFp);
    EXPECT_EQ(acl.find(mac("0004F2000004"))->line(), 6);
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

// The compiled table is what the watcher publishes and every process maps:
// read back from its bytes alone, it answers as the parsed list did, and a
// damaged one is refused whole rather than read out of bounds.
TEST(AclTable, ReadBackFromItsBytesAlone) {
    const auto parsed = Acl::parse("0004F2000001\n0004F2000002 label=desk sha256=" + kFp + "\n", "a.acl");
    auto copy = std::make_shared<std::string>(parsed.bytes());
    const std::string_view bytes = *copy;
    const Acl acl = Acl::from_table(std::move(copy), bytes, "snapshot");
    ASSERT_EQ(acl.size(), 2u);
    EXPECT_STREQ(acl.find(mac("0004F2000001"))->label(), "");
    EXPECT_EQ(acl.find(mac("0004F2000001"))->pin(), nullptr);
    EXPECT_STREQ(acl.find(mac("0004F2000002"))->label(), "desk");
    EXPECT_EQ(fingerprint_hex(*acl.find(mac("0004F2000002"))->pin()), kFp);
    EXPECT_EQ(acl.find(mac("0004F2000002"))->line(), 2);
    EXPECT_EQ(acl.find(mac("0004F2000003")), nullptr);
    EXPECT_EQ(Acl::parse("", "empty.acl").find(mac("0004F2000003")), nullptr);
}

TEST(AclTable, ADamagedTableIsRefused) {
    const auto parsed = Acl::parse("0004F2000001 label=a\n0004F2000002 sha256=" + kFp + "\n", "a.acl");
    const std::string good(parsed.bytes());
    const auto refused = [](std::string bytes) -> std::string {
        auto owner = std::make_shared<std::string>(std::move(bytes));
        const std::string_view view = *owner;
        try {
            Acl::from_table(owner, view, "snapshot");
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_EQ(refused(good), "");
    EXPECT_EQ(refused(good.substr(0, 40)), "snapshot: not a usable ACL table: too short or misaligned");
    std::string b = good;
    b[0] = 'X';
    EXPECT_EQ(refused(b), "snapshot: not a usable ACL table: unknown layout");
    EXPECT_EQ(refused(good + std::string(8, '\0')), "snapshot: not a usable ACL table: its size disagrees with its header");
    // The header's fields, as acl_table.cpp lays them out.
    const auto field = [&](std::string bytes, int index, std::uint64_t value) {
        std::memcpy(&bytes[8 + 8 * index], &value, sizeof value);
        return bytes;
    };
    EXPECT_NE(refused(field(good, 2, 7)), "");                  // bucket count not a power of two
    EXPECT_NE(refused(field(good, 1, 1000)), "");               // more records than bytes say
    // The first record's label offset, then its MAC, then a bucket.
    b = good;
    const std::uint32_t far = 1u << 30;
    std::memcpy(&b[64 + 12], &far, sizeof far);
    EXPECT_EQ(refused(b), "snapshot: not a usable ACL table: a label out of place");
    b = good;
    b[64] ^= 1;
    EXPECT_EQ(refused(b), "snapshot: not a usable ACL table: the index misses a record");
    b = good;
    std::uint64_t buckets_at = 0;
    std::memcpy(&buckets_at, &good[8 + 8 * 4], sizeof buckets_at);
    const std::uint32_t nobody = 99;
    std::memcpy(&b[buckets_at], &nobody, sizeof nobody);
    EXPECT_EQ(refused(b), "snapshot: not a usable ACL table: a bucket names no record");
}
