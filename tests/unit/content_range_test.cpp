#include <gtest/gtest.h>

#include <polyprov/content_range.hpp>

using namespace polyprov;

TEST(ContentRange, AcceptsTheTwoForms) {
    auto r = parse_content_range("bytes 100-199/1000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, 100u);
    EXPECT_EQ(r->last, 199u);
    EXPECT_EQ(r->total, 1000u);
    EXPECT_EQ(r->length(), 100u);
    r = parse_content_range("bytes 0-0/*");
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->total);
    EXPECT_EQ(r->length(), 1u);
    EXPECT_TRUE(parse_content_range("Bytes 5-9/10"));
    EXPECT_TRUE(parse_content_range("bytes 000123-000124/*"));
    EXPECT_TRUE(parse_content_range("bytes 999999999999999998-999999999999999999/*"));
}

TEST(ContentRange, RejectsEverythingElse) {
    for (const char* h : {"", "bytes", "bytes ", "bytes 0-4", "bytes 0-4/", "bits 0-4/10", "bytes  0-4/10",
                          "bytes 0 -4/10", "bytes 0- 4/10", "bytes 0-4 /10", "bytes +0-4/10", "bytes -1-4/10",
                          "bytes 0-+4/10", "bytes 5-3/10", "bytes 0-4/4", "bytes 0-4/3", "bytes */10",
                          "bytes 0-4/*x", "bytes 0-4/10 ", " bytes 0-4/10", "bytes 0-4/10,5-6/10",
                          "bytes 0x1-4/10", "bytes 1e3-2000/*", "bytes 1000000000000000000-1000000000000000001/*",
                          "bytes 0-99999999999999999999/*", "bytes=0-4/10", "bytes 0-4/-10"}) {
        EXPECT_FALSE(parse_content_range(h)) << '"' << h << '"';
    }
}

TEST(ByteSize, UnitsArePowersOf1024) {
    EXPECT_EQ(parse_byte_size("4096"), 4096u);
    EXPECT_EQ(parse_byte_size("512K"), 512u * 1024);
    EXPECT_EQ(parse_byte_size("10M"), 10u * 1024 * 1024);
    EXPECT_EQ(parse_byte_size("2g"), 2ull << 30);
    for (const char* bad : {"", "0", "0M", "M", "10MB", "-1", "1.5M", " 10M", "10 M", "99999999999999999G"})
        EXPECT_FALSE(parse_byte_size(bad)) << bad;
}
