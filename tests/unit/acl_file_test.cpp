#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <polyprov/acl_file.hpp>
#include <polyprov/error.hpp>

using namespace polyprov;
using namespace std::chrono_literals;

namespace {

class AclFileTest : public ::testing::Test {
protected:
    void SetUp() override { path_ = ::testing::TempDir() + "polyprov-acl-file-test.acl"; }
    void TearDown() override { std::remove(path_.c_str()); }
    // Writes through a new file and a rename, as editors and config tools do.
    void write(const std::string& text) {
        const std::string tmp = path_ + ".tmp";
        std::ofstream(tmp) << text;
        std::rename(tmp.c_str(), path_.c_str());
    }
    std::string path_;
};

Mac mac(const char* s) { return *Mac::parse(s); }

}  // namespace

TEST_F(AclFileTest, BadFileAtStartIsAnErrorWithFileAndLine) {
    write("0004F2000001\nnonsense\n");
    try {
        AclFile file(path_);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(path_ + ":2: 'nonsense' is not a MAC address", 0), 0u) << e.what();
    }
    EXPECT_THROW(AclFile("/nonexistent/phones.acl"), Error);
}

TEST_F(AclFileTest, ReloadsAChangedFileAtMostOncePerInterval) {
    write("0004F2000001\n");
    AclFile file(path_, 1s);
    const auto t0 = AclFile::Clock::now();
    write("0004F2000001\n0004F2000002 label=new\n");

    auto within = file.current(t0 + 500ms);
    EXPECT_EQ(within.acl->size(), 1u) << "looked at the file before the interval passed";
    EXPECT_FALSE(within.reloaded);

    auto after = file.current(t0 + 1100ms);
    EXPECT_EQ(after.acl->size(), 2u);
    ASSERT_TRUE(after.reloaded);
    EXPECT_EQ(*after.reloaded, "2 devices");
    EXPECT_EQ(after.acl->find(mac("0004F2000002"))->label, "new");

    auto unchanged = file.current(t0 + 2200ms);
    EXPECT_FALSE(unchanged.reloaded);
    EXPECT_EQ(unchanged.acl, after.acl) << "an unchanged file must not be parsed again";
}

TEST_F(AclFileTest, BadReloadKeepsTheLastGoodListAndReportsOnce) {
    write("0004F2000001\n");
    AclFile file(path_, 1s);
    const auto t0 = AclFile::Clock::now();
    write("0004F2000001\n0004F2000001\n");

    auto first = file.current(t0 + 1100ms);
    EXPECT_EQ(first.acl->size(), 1u);
    ASSERT_TRUE(first.failed);
    EXPECT_EQ(*first.failed, path_ + ":2: duplicate MAC 0004F2000001 (first on line 1); keeping the last good list");

    auto again = file.current(t0 + 2200ms);
    EXPECT_FALSE(again.failed) << "the same bad file was reported twice";
    EXPECT_EQ(again.acl->size(), 1u);

    write("0004F2000003\n");
    auto fixed = file.current(t0 + 3300ms);
    EXPECT_TRUE(fixed.reloaded);
    EXPECT_NE(fixed.acl->find(mac("0004F2000003")), nullptr);
    EXPECT_EQ(fixed.acl->find(mac("0004F2000001")), nullptr);
}

TEST_F(AclFileTest, MissingFileKeepsTheLastGoodList) {
    write("0004F2000001\n");
    AclFile file(path_, 1s);
    const auto t0 = AclFile::Clock::now();
    std::remove(path_.c_str());
    auto gone = file.current(t0 + 1100ms);
    EXPECT_EQ(gone.acl->size(), 1u);
    ASSERT_TRUE(gone.failed);
    EXPECT_NE(gone.failed->find("cannot be read"), std::string::npos);
}
