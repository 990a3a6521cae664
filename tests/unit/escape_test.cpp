#include <gtest/gtest.h>

#include <polyprov/escape.hpp>

using namespace polyprov;

TEST(Escape, JsonStringEscapesWhatCouldBreakOut) {
    EXPECT_EQ(json_string("VVX_500"), "\"VVX_500\"");
    EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(json_string("</script><script>alert(1)</script>"),
              "\"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\"");
    EXPECT_EQ(json_string(std::string("a\0b\x1f\n", 5)), "\"a\\u0000b\\u001f\\n\"");
    EXPECT_EQ(json_string("\xE2\x80\xA8"), "\"\\u2028\"");
    EXPECT_EQ(json_string("caf\xC3\xA9"), "\"caf\xC3\xA9\"");  // valid UTF-8 passes through
}

TEST(Escape, InvalidUtf8BecomesReplacementCharacters) {
    EXPECT_EQ(json_string("\xFF"), "\"\xEF\xBF\xBD\"");
    EXPECT_EQ(valid_utf8("a\xC3"), "a\xEF\xBF\xBD");               // cut sequence
    EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
    EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
    EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // past U+10FFFF
    EXPECT_EQ(valid_utf8("\xF0\x9F\x93\x9E phone"), "\xF0\x9F\x93\x9E phone");
}

TEST(Escape, HtmlText) {
    EXPECT_EQ(html_text("<img src=x onerror='a'>&\""), "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;");
    EXPECT_EQ(html_text(std::string("a\0b\x1b[31m", 8)), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD[31m");
    EXPECT_EQ(html_text("tab\there"), "tab\there");
}
