#include <gtest/gtest.h>

#include <polyprov/user_agent.hpp>

using namespace polyprov;

namespace {

void expect_agent(const char* ua, const char* family, const char* model, const char* firmware) {
    const auto a = parse_user_agent(ua);
    ASSERT_TRUE(a) << ua;
    EXPECT_EQ(a->family, family) << ua;
    EXPECT_EQ(a->model, model) << ua;
    EXPECT_EQ(a->firmware, firmware) << ua;
}

}  // namespace

TEST(UserAgent, TheFormsPhonesSend) {
    expect_agent("FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application", "VVX", "VVX_500", "5.9.7.4477");
    expect_agent("FileTransport PolycomSoundPointIP-SPIP_550-UA/4.0.15.1047 (SN:0004f2000001) Type/Application",
                 "SoundPointIP", "SPIP_550", "4.0.15.1047");
    expect_agent("FileTransport PolyEdge-Edge_E450-UA/8.0.1.0123 Type/Application", "Edge", "Edge_E450", "8.0.1.0123");
    expect_agent("FileTransport PolycomRealPresenceTrio-Trio_8800-UA/7.2.2.1094 Type/Application",
                 "RealPresenceTrio", "Trio_8800", "7.2.2.1094");
    // The token anywhere, e.g. in a browser's string.
    expect_agent("Mozilla/5.0 (Linux) PolycomVVX-VVX_411-UA/6.4.3.5218 Microbrowser/2.0", "VVX", "VVX_411", "6.4.3.5218");
}

TEST(UserAgent, AnythingElseIsNotAnError) {
    for (const char* ua : {"", "Microbrowser/3.2 (compatible)", "curl/7.88.1", "FileTransport Type/Application",
                           "PolycomVVX-VVX_500-UA/", "PolycomVVX-VVX_500-UA/5..9", "PolycomVVX-VVX_500-UA/5.9.",
                           "PolycomVVX-VVX_500-UA/.5", "PolycomVVX-VVX_500-UA/5.9a", "PolycomVVX-UA/5.9",
                           "Polycom-VVX_500-UA/5.9", "PolycomVVX--UA/5.9", "PolycomVV<X-VVX_500-UA/5.9",
                           "PolycomVVX-VVX<500-UA/5.9", "\xFF\xFE", "PolycomVVX-VVX_500-UA/5.9.7.4477\x01"})
        EXPECT_FALSE(parse_user_agent(ua)) << ua;
    // Over-long parts are not taken for a model.
    EXPECT_FALSE(parse_user_agent("PolycomVVX-" + std::string(40, 'A') + "-UA/1.2"));
    EXPECT_FALSE(parse_user_agent("PolycomVVX-VVX_500-UA/" + std::string(40, '1')));
}
