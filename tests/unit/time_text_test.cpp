#include <gtest/gtest.h>

#include <polyprov/time_text.hpp>

using namespace polyprov;

TEST(TimeText, Iso8601RoundTrips) {
    EXPECT_EQ(iso8601(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(iso8601(1709294400), "2024-03-01T12:00:00Z");
    EXPECT_EQ(iso8601(2335219199), "2043-12-31T23:59:59Z");
    for (const UnixTime t : {UnixTime(0), UnixTime(951782400), UnixTime(1709294400), UnixTime(4102444800)})
        EXPECT_EQ(parse_iso8601(iso8601(t)), t) << t;
}

TEST(TimeText, Iso8601RejectsOtherForms) {
    for (const char* bad : {"", "2024-03-01", "2024-03-01T12:00:00", "2024-03-01T12:00:00+00:00",
                            "2024-03-01 12:00:00Z", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
                            "2024-13-01T00:00:00Z", "2024-03-01T24:00:00Z", "2024-03-01T12:60:00Z",
                            "2024-03-01T12:00:60Z", "2024-3-01T12:00:00Z", "2024-03-01T12:00:00Zx",
                            "+024-03-01T12:00:00Z", "2024-03-01T12:00:00.5Z"})
        EXPECT_FALSE(parse_iso8601(bad)) << bad;
    EXPECT_EQ(parse_iso8601("2024-02-29T00:00:00Z"), 1709164800);
}

TEST(TimeText, OpenSslDatesAsModSslPrintsThem) {
    EXPECT_EQ(parse_openssl_date("Mar  1 12:00:00 2024 GMT"), 1709294400);
    EXPECT_EQ(parse_openssl_date("Mar 1 12:00:00 2024 GMT"), 1709294400);
    EXPECT_EQ(parse_openssl_date("Dec 31 23:59:59 2043 GMT"), 2335219199);
    for (const char* bad : {"", "Mar  1 12:00:00 2024", "Mar  1 12:00:00 2024 UTC", "Foo  1 12:00:00 2024 GMT",
                            "Feb 30 12:00:00 2024 GMT", "Mar  1 12:00 2024 GMT", "Mar   1 12:00:00 2024 GMT",
                            "Mar  1 12:00:00 24 GMT", "Mar  1 12:00:00 2024 GMT "})
        EXPECT_FALSE(parse_openssl_date(bad)) << bad;
}
