#include <gtest/gtest.h>

#include <polyprov/json_reader.hpp>

using namespace polyprov;

TEST(JsonReader, Values) {
    std::string error;
    const auto v = JsonValue::parse(R"( {"a": [1, -2.5e3, true, false, null], "b": "x\"\u00e9\ud83d\udcde", "c": {}} )", error);
    ASSERT_TRUE(v) << error;
    const auto& a = v->get("a")->array();
    ASSERT_EQ(a.size(), 5u);
    EXPECT_EQ(a[0].number(), 1);
    EXPECT_EQ(a[1].number(), -2500);
    EXPECT_TRUE(a[2].boolean());
    EXPECT_TRUE(a[4].is_null());
    EXPECT_EQ(v->get("b")->string(), "x\"\xC3\xA9\xF0\x9F\x93\x9E");
    EXPECT_TRUE(v->get("c")->object().empty());
    EXPECT_EQ(v->get("missing"), nullptr);
}

TEST(JsonReader, RefusesEverythingElse) {
    for (const char* bad : {"", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "'x'", "01", "1.", ".5", "-",
                            "1e", "+1", "nul", "truex", "[1] [2]", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
                            "\"a\nb\"", "\"\xFF\"", "{\"a\":1,\"a\":2}", "NaN", "[1,2"}) {
        std::string error;
        EXPECT_FALSE(JsonValue::parse(bad, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    std::string deep(100, '[');
    deep += std::string(100, ']');
    std::string error;
    EXPECT_FALSE(JsonValue::parse(deep, error));
    EXPECT_NE(error.find("deep"), std::string::npos);
}
