#include <gtest/gtest.h>

#include <polyprov/authentication.hpp>

using namespace polyprov;

namespace {

const MacPattern& def() {
    static const MacPattern p = MacPattern::compile(MacPattern::kDefault);
    return p;
}
Mac mac(const char* s) { return *Mac::parse(s); }
const Sha256 kPin = *parse_fingerprint(std::string(64, 'A'));
const Sha256 kOther = *parse_fingerprint(std::string(64, 'B'));

std::function<std::optional<Sha256>()> digest(std::optional<Sha256> value) {
    return [value] { return value; };
}

PresentedCertificate verified_phone(const char* m) {
    PresentedCertificate c;
    c.present = true;
    c.verified = true;
    c.claimed = mac(m);
    c.fingerprint = digest(kOther);
    return c;
}

}  // namespace

TEST(ClaimedMac, OneValidCnNamingOneMac) {
    EXPECT_EQ(claimed_mac(std::string("0004F2000001"), def()), mac("0004F2000001"));
    EXPECT_EQ(claimed_mac(std::string("SEP0004F2000001"), def()), mac("0004F2000001"));
    EXPECT_EQ(claimed_mac(std::string("VVX 0004F2000012"), def()), mac("0004F2000012"));
    EXPECT_FALSE(claimed_mac(std::nullopt, def())) << "no single valid CN";
    EXPECT_FALSE(claimed_mac(std::string("0004F2000001 0004F2000002"), def()));
    EXPECT_FALSE(claimed_mac(std::string("0004F20000011"), def()));
    EXPECT_FALSE(claimed_mac(std::string("phone"), def()));
    EXPECT_EQ(claimed_mac(std::string("0004F2000001 and 00:04:f2:00:00:01"), def()), mac("0004F2000001"));
}

TEST(Authenticate, NeedsACertificateWithAMacThatVerified) {
    EXPECT_EQ(authenticate(PresentedCertificate{}, nullptr).denial, Denial::no_cert);
    PresentedCertificate no_mac = verified_phone("0004F2000001");
    no_mac.claimed.reset();
    EXPECT_EQ(authenticate(no_mac, nullptr).denial, Denial::cn_no_mac);
    PresentedCertificate unverified = verified_phone("0004F2000001");
    unverified.verified = false;
    const auto a = authenticate(unverified, nullptr);
    EXPECT_EQ(a.denial, Denial::unverified);
    EXPECT_FALSE(a.device);
    EXPECT_EQ(a.claimed, mac("0004F2000001")) << "the claim is kept for the log";
    const auto ok = authenticate(verified_phone("0004F2000001"), nullptr);
    EXPECT_EQ(ok.denial, Denial::none);
    EXPECT_EQ(ok.device, mac("0004F2000001"));
    EXPECT_FALSE(ok.pinned);
}

TEST(Authenticate, AclAllowsListedDevicesOnly) {
    const Acl acl = Acl::parse("0004F2000001 label=desk\n", "a.acl");
    const auto a = authenticate(verified_phone("0004F2000001"), &acl);
    EXPECT_EQ(a.denial, Denial::none);
    ASSERT_NE(a.entry, nullptr);
    EXPECT_STREQ(a.entry->label(), "desk");
    const auto b = authenticate(verified_phone("0004F2000002"), &acl);
    EXPECT_EQ(b.denial, Denial::not_in_acl);
    EXPECT_FALSE(b.device);
    EXPECT_EQ(b.claimed, mac("0004F2000002"));
}

TEST(Authenticate, PinnedSelfSignedPhone) {
    const Acl acl = Acl::parse("0004F200000C sha256=" + std::string(64, 'A') + "\n", "a.acl");
    PresentedCertificate phone = verified_phone("0004F200000C");
    phone.verified = false;  // self-signed: mod_ssl says FAILED/GENEROUS
    phone.fingerprint = digest(kPin);
    const auto a = authenticate(phone, &acl);
    EXPECT_EQ(a.denial, Denial::none);
    EXPECT_TRUE(a.pinned);
    EXPECT_EQ(a.device, mac("0004F200000C"));
    phone.fingerprint = digest(kOther);  // same CN, other certificate
    EXPECT_EQ(authenticate(phone, &acl).denial, Denial::unverified);
    phone.fingerprint = digest(std::nullopt);   // the digest failed: never matches a pin
    EXPECT_EQ(authenticate(phone, &acl).denial, Denial::unverified);
    phone.fingerprint = nullptr;   // none to be had: the same
    EXPECT_EQ(authenticate(phone, &acl).denial, Denial::unverified);
}

TEST(Authenticate, AVerifiedCertificateDoesNotBeatAPinToAnother) {
    // Issue 9: the early hook used to name this MAC while the access check denied it.
    const Acl acl = Acl::parse("0004F200000C sha256=" + std::string(64, 'A') + "\n", "a.acl");
    const auto a = authenticate(verified_phone("0004F200000C"), &acl);
    EXPECT_EQ(a.denial, Denial::unverified);
    EXPECT_FALSE(a.device);
    EXPECT_FALSE(a.pinned);
    EXPECT_EQ(a.claimed, mac("0004F200000C"));
}

TEST(Authenticate, AllZeroFingerprintIsJustAnotherPin) {
    // A pin of all zeros must not match a certificate whose digest failed.
    const Acl acl = Acl::parse("0004F200000C sha256=" + std::string(64, '0') + "\n", "a.acl");
    PresentedCertificate phone = verified_phone("0004F200000C");
    phone.verified = false;
    phone.fingerprint = digest(std::nullopt);
    EXPECT_EQ(authenticate(phone, &acl).denial, Denial::unverified);
}

TEST(Authenticate, TheSharedAndBroadcastMacsAreNoDevice) {
    for (const char* m : {"000000000000", "FFFFFFFFFFFF"}) {
        const auto a = authenticate(verified_phone(m), nullptr);
        EXPECT_EQ(a.denial, Denial::cn_no_mac) << m;
        EXPECT_FALSE(a.device) << m;
    }
}

TEST(Authenticate, TheDigestIsWorkedOutOnlyForAPinAndOnce) {
    int digests = 0;
    PresentedCertificate phone = verified_phone("0004F200000C");
    phone.fingerprint = [&digests] {
        ++digests;
        return std::optional<Sha256>(kPin);
    };
    const Acl plain = Acl::parse("0004F200000C\n0004F200000D sha256=" + std::string(64, 'B') + "\n", "plain.acl");
    EXPECT_EQ(authenticate(phone, &plain).denial, Denial::none);
    EXPECT_EQ(digests, 0) << "no pin on the claimed MAC's line: no digest";

    const Acl pinned = Acl::parse("0004F200000C sha256=" + std::string(64, 'A') + "\n", "pinned.acl");
    const auto a = authenticate(phone, std::vector<const Acl*>{&pinned, &pinned}, &pinned);
    EXPECT_EQ(a.denial, Denial::none);
    EXPECT_TRUE(a.pinned);
    EXPECT_EQ(digests, 1) << "two lists pin it: one digest";
}
