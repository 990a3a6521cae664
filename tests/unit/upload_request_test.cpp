#include <gtest/gtest.h>

#include <polyprov/upload_request.hpp>

using namespace polyprov;

namespace {

const Mac kMe = *Mac::parse("0004F2000001");
constexpr std::uint64_t kMax = 1024;

UploadPlan plan(const char* range, const char* length, const char* name = "0004F2000001-app.log") {
    return plan_upload(name, kMe, range, length, kMax);
}

}  // namespace

TEST(PlanUpload, AcceptsWholeFilesAndAppends) {
    const auto whole = plan(nullptr, "10");
    EXPECT_EQ(whole.status, 0);
    EXPECT_FALSE(whole.range);
    EXPECT_EQ(whole.length, std::uint64_t{10});
    const auto chunked = plan(nullptr, nullptr);
    EXPECT_EQ(chunked.status, 0);
    EXPECT_FALSE(chunked.length);
    const auto append = plan("bytes 100-109/*", "10");
    EXPECT_EQ(append.status, 0);
    ASSERT_TRUE(append.range);
    EXPECT_EQ(append.range->first, 100u);
    EXPECT_EQ(append.length, std::uint64_t{10});
}

TEST(PlanUpload, RefusesBeforeReadingTheBody) {
    EXPECT_EQ(plan(nullptr, "10", "0004F2000001.cfg").status, 403);
    EXPECT_EQ(plan(nullptr, "10", "0004F2000002-app.log").status, 403);
    EXPECT_EQ(plan("bytes 1-0/*", "0").status, 400);
    EXPECT_EQ(plan("bytes=0-9/*", "10").status, 400);
    EXPECT_EQ(plan("bytes 0-9/*", "11").status, 400);
    EXPECT_STREQ(plan("bytes 0-9/*", "11").reason, "bad-length");
    EXPECT_EQ(plan("bytes 0-1024/*", nullptr).status, 413) << "a range past the limit";
    EXPECT_EQ(plan(nullptr, "1025").status, 413);
    EXPECT_EQ(plan(nullptr, "-1").status, 400);
    EXPECT_EQ(plan(nullptr, "1x").status, 400);
}

TEST(PlanUpload, TheBodyMustMatch) {
    EXPECT_FALSE(body_mismatch(plan("bytes 0-9/*", nullptr), 10));
    const auto short_body = body_mismatch(plan("bytes 0-9/*", nullptr), 9);
    ASSERT_TRUE(short_body);
    EXPECT_EQ(*short_body, "body has 9 bytes, the range 10");
    EXPECT_FALSE(body_mismatch(plan(nullptr, nullptr), 500)) << "chunked: nothing to compare";
}
