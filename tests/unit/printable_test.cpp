#include <gtest/gtest.h>

#include <string>

#include <polyprov/printable.hpp>

using polyprov::printable;

TEST(Printable, KeepsPlainAsciiAndEscapesTheRest) {
    EXPECT_EQ(printable("Polycom Root CA"), "Polycom Root CA");
    EXPECT_EQ(printable("CA\n  sha256 AB"), "CA\\x0A  sha256 AB");
    EXPECT_EQ(printable("\x1b[8mhidden"), "\\x1B[8mhidden");
    EXPECT_EQ(printable("a\\x0A"), "a\\x5Cx0A");  // an escape cannot be forged
    EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
    EXPECT_EQ(printable("Gr\xc3\xbc\xc3\x9f" "e\x7f"), "Gr\\xC3\\xBC\\xC3\\x9Fe\\x7F");
}
