#include <gtest/gtest.h>

#include <polyprov/access_policy.hpp>
#include <polyprov/error.hpp>
#include <polyprov/shared_names.hpp>

using namespace polyprov;

namespace {

SharedNames names(std::vector<std::string> globs) { return SharedNames::parse(globs); }

const MacPattern& def() {
    static const MacPattern p = MacPattern::compile(MacPattern::kDefault);
    return p;
}

Authentication device(const char* m) {
    Authentication a;
    a.device = a.claimed = *Mac::parse(m);
    return a;
}

// `own_subject`: the mapped file the device's own is judged on; by default
// `below` itself (a request without path info).
Denial decide(const SharedNames& shared, std::optional<std::string_view> below, bool match_uri = true,
              MethodRule rule = MethodRule::read, std::optional<std::optional<std::string_view>> own_subject = {}) {
    AccessRequest request;
    request.rule = rule;
    request.method = "GET";
    request.match_uri = match_uri;
    const std::string uri = "/polycom/" + std::string(below.value_or("x"));
    request.paths = {uri};
    request.shared = &shared;
    request.below = below;
    request.own_subject = own_subject ? *own_subject : below;
    if (rule == MethodRule::upload) request.upload_name = *below;
    return decide_access(device("0004F2000001"), request, def()).denial;
}

}  // namespace

TEST(SharedNames, TheDesignsExample) {
    const auto n = names({"000000000000*.cfg", "*.sip.ld", "SoundPointIPLocalization/"});
    EXPECT_TRUE(n.covers("000000000000.cfg"));
    EXPECT_TRUE(n.covers("000000000000-sip.cfg"));
    EXPECT_TRUE(n.covers("3111-46135-002.sip.ld"));
    EXPECT_TRUE(n.covers("SoundPointIPLocalization/English_United_States/SoundPointIP-dictionary.xml"));
    EXPECT_TRUE(n.covers("SoundPointIPLocalization/")) << "its listing";
    EXPECT_FALSE(n.covers("SoundPointIPLocalization")) << "a file of the directory's name";
    EXPECT_FALSE(n.covers("alice.cfg"));
    EXPECT_FALSE(n.covers("alice-directory.xml"));
    EXPECT_FALSE(n.covers(""));
    EXPECT_FALSE(n.covers("SoundPointIPLocalizationX/a"));
}

TEST(SharedNames, CaseBlindWithinOneComponent) {
    const auto n = names({"*.cfg", "lang/*.xml"});
    EXPECT_TRUE(n.covers("SIP.CFG"));
    EXPECT_FALSE(n.covers("profiles/alice.cfg")) << "'*' crosses no '/'";
    EXPECT_TRUE(n.covers("LANG/en.XML"));
    EXPECT_FALSE(n.covers("lang/en/x.xml"));
    EXPECT_FALSE(n.covers("sip.cfg/")) << "a trailing slash names no file the glob lists";
    EXPECT_FALSE(n.covers(".htaccess.cfg")) << "a leading dot is matched only when spelled";
    EXPECT_FALSE(n.covers(std::string_view("a.cfg\0x", 7)));
    EXPECT_TRUE(names({".hidden.cfg"}).covers(".hidden.cfg"));
    EXPECT_TRUE(names({"?.cfg"}).covers("a.cfg"));
    EXPECT_FALSE(names({"?.cfg"}).covers("ab.cfg"));
}

TEST(SharedNames, DirectoryGlobs) {
    const auto n = names({"fw/*/"});
    EXPECT_TRUE(n.covers("fw/5.9/sip.ld"));
    EXPECT_TRUE(n.covers("fw/5.9/deeper/x"));
    EXPECT_TRUE(n.covers("FW/5.9/"));
    EXPECT_FALSE(n.covers("FW/5.9")) << "a file where the glob names a directory (review finding)";
    EXPECT_FALSE(n.covers("fw/alice.cfg")) << "a file where the glob names a directory (review finding)";
    EXPECT_FALSE(n.covers("fw//alice.cfg")) << "an empty component: '*' would match nothing";
    EXPECT_FALSE(names({"*/"}).covers("alice.cfg"));
    EXPECT_FALSE(n.covers("fw"));
    EXPECT_FALSE(n.covers("fw.ld"));
    EXPECT_FALSE(n.covers("other/5.9/sip.ld"));
    EXPECT_FALSE(n.covers("fw/.git/config")) << "a leading dot is matched only when spelled";
    EXPECT_FALSE(n.covers("fw/5.9/.htpasswd")) << "nor below a directory glob (review finding)";
    EXPECT_FALSE(n.covers("fw/5.9/x/.git/config"));
}

TEST(SharedNames, RefusesWhatItCannotMean) {
    for (const char* bad : {"", "/", "/abs.cfg", "a//b", "../x", "a/./b", "a/../b", "[0-9]*.cfg", "a\\*", ".."})
        EXPECT_THROW(names({bad}), Error) << bad;
    try {
        names({"*.cfg", "[ab].cfg"});
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'[ab].cfg'"), std::string::npos) << e.what();
    }
}

TEST(SharedNamesDecision, OnlyNamesNoDeviceOwnsAreGoverned) {
    const auto n = names({"000000000000*.cfg", "*.ld"});
    EXPECT_EQ(decide(n, "000000000000.cfg"), Denial::none);
    EXPECT_EQ(decide(n, "sip.ld"), Denial::none);
    EXPECT_EQ(decide(n, "alice.cfg"), Denial::not_shared);
    EXPECT_EQ(decide(n, "profiles/alice.cfg"), Denial::not_shared);
    EXPECT_EQ(decide(n, ""), Denial::not_shared) << "the section's own directory (a listing)";
    EXPECT_EQ(decide(n, std::nullopt), Denial::not_shared) << "unknown: fail closed";
    EXPECT_EQ(decide(n, "0004F2000001.cfg"), Denial::none) << "the device's own";
    EXPECT_EQ(decide(n, "0004f2000001/alice.cfg"), Denial::none) << "below the device's own directory";
    EXPECT_EQ(decide(n, "0004F2000002.cfg"), Denial::mac_mismatch) << "another's: the path rule";
    EXPECT_EQ(decide(n, "0004F2000002.cfg", false), Denial::not_shared) << "MatchURI off: only the device's own is exempt";
    EXPECT_EQ(decide(n, "441234567890.cfg", false), Denial::not_shared) << "a phone number, not a MAC (review finding)";
    EXPECT_EQ(decide(n, "USERAL~1.CFG", false), Denial::not_shared) << "a short-name alias (review finding)";
    EXPECT_EQ(decide(n, "alice.cfg", false), Denial::not_shared);
    // Judged on the mapped file, not its path info nor a URI mapped away (review finding).
    EXPECT_EQ(decide(n, "alice.cfg/0004F2000001", true, MethodRule::read, std::string_view("alice.cfg")),
              Denial::not_shared);
    EXPECT_EQ(decide(n, "0004F2000001/alice.cfg", true, MethodRule::read, std::string_view("/srv/polycom/alice.cfg")),
              Denial::not_shared);
    EXPECT_EQ(decide(n, "0004F2000001/alice.cfg", true, MethodRule::read, std::optional<std::string_view>()),
              Denial::not_shared) << "no file: nothing is the device's own";
    EXPECT_EQ(decide(n, "0004F2000001-app.log", true, MethodRule::upload), Denial::none);
    EXPECT_STREQ(decision_string(Denial::not_shared), "deny:not-shared");
}
