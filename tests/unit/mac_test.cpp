#include <gtest/gtest.h>

#include <polyprov/mac.hpp>

using polyprov::Mac;

TEST(Mac, AcceptsEveryCommonNotation) {
    for (const char* text : {"0004F2586A4B", "0004f2586a4b", "00:04:f2:58:6a:4b", "00-04-F2-58-6A-4B",
                             "0004.f258.6a4b", "00:04:F2:58:6a:4B"}) {
        const auto mac = Mac::parse(text);
        ASSERT_TRUE(mac.has_value()) << text;
        EXPECT_EQ(mac->str(), "0004F2586A4B") << text;
    }
}

TEST(Mac, RejectsEverythingElse) {
    for (const char* text : {"", "0004F2586A4", "0004F2586A4B0", "0004F2586A4G", "00:04:f2:58:6a:4b:",
                             "00:04-f2:58:6a:4b", "00-04-F2-58-6A:4B", "0004.f258-6a4b", "000.4f25.86a4b",
                             " 0004F2586A4B", "0004F2586A4B ", "0x04F2586A4B", "00:04:f2:58:6a:4", "+004F2586A4B",
                             "0004:f258:6a4b", "00.04.f2.58.6a.4b"}) {
        EXPECT_FALSE(Mac::parse(text).has_value()) << '"' << text << '"';
    }
}

TEST(Mac, SharedAddressIsAllZeros) {
    EXPECT_TRUE(Mac::parse("000000000000")->is_shared());
    EXPECT_FALSE(Mac::parse("000000000001")->is_shared());
}

TEST(Mac, ComparesByValueWhateverTheNotation) {
    EXPECT_EQ(*Mac::parse("00:04:f2:58:6a:4b"), *Mac::parse("0004.F258.6A4B"));
    EXPECT_NE(*Mac::parse("0004F2586A4B"), *Mac::parse("0004F2586A4C"));
    EXPECT_EQ(Mac::parse("FFFFFFFFFFFF")->str(), "FFFFFFFFFFFF");
}

TEST(Mac, FormatsIntoABufferAsStrDoes) {
    for (const char* text : {"000000000000", "0004f2586a4b", "FFFFFFFFFFFF", "00:04:F2:00:00:01"}) {
        char out[Mac::kTextSize];
        const Mac mac = *Mac::parse(text);
        mac.format(out);
        EXPECT_EQ(std::string(out), mac.str()) << text;
        EXPECT_EQ(out[12], '\0');
    }
}
