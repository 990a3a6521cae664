#include <gtest/gtest.h>

#include <polyprov/client_cert.hpp>
#include <polyprov/waiver_record.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

struct Anchors {
    Credential root = make_ca("Polycom Root CA", nullptr);
    Credential other = make_ca("Other Root CA", nullptr);
    TrustAnchors polycom = TrustAnchors::from_pem(to_pem(root.cert.get()), "polycom");
    TrustAnchors both = TrustAnchors::from_pem(to_pem(root.cert.get()) + to_pem(other.cert.get()), "both");
    TrustAnchors elsewhere = TrustAnchors::from_pem(to_pem(other.cert.get()), "other");
    Sha256 root_fp = *certificate_sha256(root.cert.get());
};

WaiverRecord record(bool leaf, bool ca, const Sha256& anchor) {
    WaiverRecord r;
    r.leaf = leaf;
    r.ca = ca;
    r.anchor = anchor;
    return r;
}

}  // namespace

TEST(WaiverRecord, RoundTripsAndRefusesStrangers) {
    const Anchors a;
    for (const auto& r : {record(true, false, a.root_fp), record(false, true, a.root_fp), record(true, true, a.root_fp),
                          WaiverRecord{}}) {
        const auto back = decode_waiver_record(encode(r));
        ASSERT_TRUE(back);
        EXPECT_EQ(back->leaf, r.leaf);
        EXPECT_EQ(back->ca, r.ca);
        EXPECT_EQ(back->anchor, r.anchor);
    }
    const std::string good = encode(record(true, false, a.root_fp));
    EXPECT_FALSE(decode_waiver_record(""));
    EXPECT_FALSE(decode_waiver_record(good.substr(0, good.size() - 1)));
    EXPECT_FALSE(decode_waiver_record(good + "x"));
    std::string flags = good;
    flags[4] = 4;
    EXPECT_FALSE(decode_waiver_record(flags));
    std::string magic = good;
    magic[0] = 'X';
    EXPECT_FALSE(decode_waiver_record(magic));
}

TEST(WaiverRecord, ServedOnlyWhereItWouldBeWaived) {
    const Anchors a;
    const auto leaf = record(true, false, a.root_fp);
    const auto chain = record(false, true, a.root_fp);
    EXPECT_TRUE(waiver_covers(ExpiryMode::off, nullptr, WaiverRecord{})) << "nothing waived: served anywhere";
    EXPECT_TRUE(waiver_covers(ExpiryMode::leaf, &a.polycom, leaf));
    EXPECT_TRUE(waiver_covers(ExpiryMode::chain, &a.polycom, leaf));
    EXPECT_TRUE(waiver_covers(ExpiryMode::leaf, &a.both, leaf)) << "more anchors include the one used";
    EXPECT_FALSE(waiver_covers(ExpiryMode::off, nullptr, leaf));
    EXPECT_FALSE(waiver_covers(ExpiryMode::leaf, &a.elsewhere, leaf)) << "other anchors";
    EXPECT_FALSE(waiver_covers(ExpiryMode::leaf, nullptr, leaf));
    EXPECT_TRUE(waiver_covers(ExpiryMode::chain, &a.polycom, chain));
    EXPECT_FALSE(waiver_covers(ExpiryMode::leaf, &a.polycom, chain)) << "an expired issuing CA needs chain";
    EXPECT_FALSE(waiver_covers(ExpiryMode::off, &a.polycom, chain));
}

TEST(WaiverRecord, UnknownRecordsAssumeWhatTheHandshakeHostCouldWaive) {
    const Anchors a;
    // The handshake's host waived nothing: served as stock mod_ssl would.
    EXPECT_TRUE(waiver_covers_unknown(ExpiryMode::off, nullptr, ExpiryMode::off, nullptr, true));
    // leaf host, certificate valid now: nothing can have been waived.
    EXPECT_TRUE(waiver_covers_unknown(ExpiryMode::off, nullptr, ExpiryMode::leaf, &a.polycom, false));
    // leaf host, certificate expired: only where the same anchors are waived.
    EXPECT_TRUE(waiver_covers_unknown(ExpiryMode::leaf, &a.both, ExpiryMode::leaf, &a.polycom, true));
    EXPECT_FALSE(waiver_covers_unknown(ExpiryMode::leaf, &a.elsewhere, ExpiryMode::leaf, &a.polycom, true));
    EXPECT_FALSE(waiver_covers_unknown(ExpiryMode::off, nullptr, ExpiryMode::leaf, &a.polycom, true));
    // chain host: an issuing CA may have been waived, even for a valid leaf.
    EXPECT_FALSE(waiver_covers_unknown(ExpiryMode::leaf, &a.polycom, ExpiryMode::chain, &a.polycom, false));
    EXPECT_TRUE(waiver_covers_unknown(ExpiryMode::chain, &a.polycom, ExpiryMode::chain, &a.polycom, false));
}

TEST(TrustAnchors, FingerprintsAndInclusion) {
    const Anchors a;
    EXPECT_TRUE(a.polycom.contains(a.root_fp));
    EXPECT_FALSE(a.elsewhere.contains(a.root_fp));
    EXPECT_TRUE(a.both.includes(a.polycom));
    EXPECT_TRUE(a.polycom.includes(a.polycom));
    EXPECT_FALSE(a.polycom.includes(a.both));
}
