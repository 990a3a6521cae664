#include <gtest/gtest.h>

#include <polyprov/duration.hpp>

using polyprov::format_duration;
using polyprov::parse_duration;

TEST(Duration, ReadsEachUnitAndBareSeconds) {
    EXPECT_EQ(parse_duration("90s"), 90);
    EXPECT_EQ(parse_duration("30m"), 1800);
    EXPECT_EQ(parse_duration("36h"), 36 * 3600);
    EXPECT_EQ(parse_duration("1d"), 86400);
    EXPECT_EQ(parse_duration("2w"), 14 * 86400);
    EXPECT_EQ(parse_duration("3600"), 3600);
    EXPECT_EQ(parse_duration("0"), 0);
    EXPECT_EQ(parse_duration("0d"), 0);
    EXPECT_EQ(parse_duration("36600d"), 36600 * 86400LL);
}

TEST(Duration, RefusesAnythingElse) {
    for (const char* bad : {"", "d", "1.5d", "-1d", "+1d", "1dd", "1 d", " 1d", "1D", "1y", "0x10", "40000d",
                            "999999999999w", "9999999999999"})
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(Duration, PrintsTheTwoLargestUnits) {
    EXPECT_EQ(format_duration(0), "0 seconds");
    EXPECT_EQ(format_duration(1), "1 second");
    EXPECT_EQ(format_duration(59), "59 seconds");
    EXPECT_EQ(format_duration(60), "1 minute");
    EXPECT_EQ(format_duration(61), "1 minute 1 second");
    EXPECT_EQ(format_duration(3661), "1 hour 1 minute");
    EXPECT_EQ(format_duration(86400), "1 day");
    EXPECT_EQ(format_duration(90000), "1 day 1 hour");
    EXPECT_EQ(format_duration(2 * 86400 + 59), "2 days");
    EXPECT_EQ(format_duration(-7200), "2 hours");
}
