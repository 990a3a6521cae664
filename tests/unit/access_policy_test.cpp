#include <gtest/gtest.h>

#include <polyprov/access_policy.hpp>

using namespace polyprov;

namespace {

const MacPattern& def() {
    static const MacPattern p = MacPattern::compile(MacPattern::kDefault);
    return p;
}
Mac mac(const char* s) { return *Mac::parse(s); }
const Sha256 kPin = *parse_fingerprint(std::string(64, 'A'));
const Sha256 kOther = *parse_fingerprint(std::string(64, 'B'));

ClientFacts verified_phone(const char* m) {
    ClientFacts c;
    c.has_certificate = true;
    c.verified = true;
    c.mac = mac(m);
    c.fingerprint = kOther;
    return c;
}

Denial decide(const ClientFacts& c, const Acl* acl, const char* path, bool match_uri = true) {
    return decide_access(c, acl, match_uri, {path}, def()).denial;
}

}  // namespace

TEST(CheckPath, OwnSharedAndForeign) {
    const Mac me = mac("0004F2000001");
    EXPECT_EQ(check_path("/0004F2000001.cfg", me, def()).verdict, PathVerdict::own);
    EXPECT_EQ(check_path("/0004f2000001-app.log", me, def()).verdict, PathVerdict::own);
    EXPECT_EQ(check_path("/000000000000.cfg", me, def()).verdict, PathVerdict::shared);
    EXPECT_EQ(check_path("/sip.ld", me, def()).verdict, PathVerdict::shared);
    EXPECT_EQ(check_path("/", me, def()).verdict, PathVerdict::shared);
    const auto foreign = check_path("/0004F2000002.cfg", me, def());
    EXPECT_EQ(foreign.verdict, PathVerdict::foreign);
    EXPECT_EQ(foreign.offending, "0004F2000002");
    EXPECT_EQ(check_path("/0004F2000002/0004F2000001.cfg", me, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/0004F2000001/0004F2000002.cfg", me, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/0004F20000011.cfg", me, def()).verdict, PathVerdict::foreign);   // 13 digits
    EXPECT_EQ(check_path("/00040004F2000001.cfg", me, def()).verdict, PathVerdict::foreign);  // longer run hiding it
    // A separated form must not swallow the start of a run (review finding).
    const Mac dashed = mac("0004F2AABB00");
    EXPECT_EQ(check_path("/00-04-F2-AA-BB-0004F2586A4B.cfg", dashed, def()).verdict, PathVerdict::foreign);
    EXPECT_EQ(check_path("/00-04-F2-AA-BB-00.cfg", dashed, def()).verdict, PathVerdict::own);
    EXPECT_EQ(check_path("/x00-04-F2-AA-BB-00/0004F2586A4B", dashed, def()).verdict, PathVerdict::foreign);
}

TEST(DecideAccess, Vocabulary) {
    EXPECT_STREQ(decision_string(Denial::none), "allow");
    EXPECT_STREQ(decision_string(Denial::mac_mismatch), "deny:mac-mismatch");
    EXPECT_STREQ(decision_string(Denial::cn_no_mac), "deny:cn-no-mac");
}

TEST(DecideAccess, NeedsACertificateWithAMacThatVerified) {
    EXPECT_EQ(decide(ClientFacts{}, nullptr, "/000000000000.cfg"), Denial::no_cert);
    ClientFacts no_mac = verified_phone("0004F2000001");
    no_mac.mac.reset();
    EXPECT_EQ(decide(no_mac, nullptr, "/000000000000.cfg"), Denial::cn_no_mac);
    ClientFacts unverified = verified_phone("0004F2000001");
    unverified.verified = false;
    EXPECT_EQ(decide(unverified, nullptr, "/000000000000.cfg"), Denial::unverified);
    EXPECT_EQ(decide(verified_phone("0004F2000001"), nullptr, "/000000000000.cfg"), Denial::none);
}

TEST(DecideAccess, AclAllowsListedDevicesOnly) {
    const Acl acl = Acl::parse("0004F2000001 label=desk\n", "a.acl");
    const auto d = decide_access(verified_phone("0004F2000001"), &acl, true, {"/0004F2000001.cfg"}, def());
    EXPECT_EQ(d.denial, Denial::none);
    ASSERT_NE(d.entry, nullptr);
    EXPECT_EQ(d.entry->label, "desk");
    EXPECT_EQ(decide(verified_phone("0004F2000002"), &acl, "/000000000000.cfg"), Denial::not_in_acl);
}

TEST(DecideAccess, PinnedSelfSignedPhone) {
    const Acl acl = Acl::parse("0004F200000C sha256=" + std::string(64, 'A') + "\n", "a.acl");
    ClientFacts phone = verified_phone("0004F200000C");
    phone.verified = false;  // self-signed: mod_ssl says FAILED/GENEROUS
    phone.fingerprint = kPin;
    EXPECT_EQ(decide(phone, &acl, "/0004F200000C.cfg"), Denial::none);
    phone.fingerprint = kOther;  // same CN, other certificate
    EXPECT_EQ(decide(phone, &acl, "/0004F200000C.cfg"), Denial::unverified);
    phone.verified = true;       // even a verified certificate is not the pinned one
    EXPECT_EQ(decide(phone, &acl, "/0004F200000C.cfg"), Denial::unverified);
}

TEST(DecideAccess, PathsMustBeOwnOrShared) {
    const auto me = verified_phone("0004F2000001");
    EXPECT_EQ(decide(me, nullptr, "/0004F2000002.cfg"), Denial::mac_mismatch);
    EXPECT_EQ(decide(me, nullptr, "/0004F2000002.cfg", false), Denial::none) << "PolyProvMatchURI off";
    EXPECT_EQ(decide_access(me, nullptr, true, {"/cfg", "0004F2000002.cfg"}, def()).denial, Denial::mac_mismatch)
        << "the mapped file names another phone";
}

TEST(MayWrite, OwnLogsOverridesAndListsOnly) {
    const Mac me = mac("0004F2000001");
    for (const char* ok : {"0004F2000001-app.log", "0004f2000001-boot.LOG", "0004F2000001-phone.cfg",
                           "0004F2000001-calls.xml", "0004F2000001-directory.xml", "0004F2000001.cfg"})
        EXPECT_TRUE(may_write(ok, me, def())) << ok;
    for (const char* bad : {"0004F2000002-app.log", "000000000000-app.log", "app.log", ".0004F2000001-app.log",
                            "0004F2000001.php", "0004F2000001.html", "0004F2000001.shtml", "0004F2000001.cgi",
                            "0004F2000001-app.log.php", "0004F2000001-app", "0004F2000001 app.log",
                            "0004F2000001%0a.log", "0004F2000001;x.log", "", "0004F2000001-app.log/"})
        EXPECT_FALSE(may_write(bad, me, def())) << bad;
}
