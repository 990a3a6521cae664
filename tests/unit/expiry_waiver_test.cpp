// The waiver driven through OpenSSL's real X509_verify_cert, with an inner
// callback standing in for mod_ssl's that records what it is shown.

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include <polyprov/expiry_waiver.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

struct InnerCallback {
    bool accept_everything = false;   // like mod_ssl's optional_no_ca, for every error
    std::vector<std::pair<int, int>> errors;  // (depth, error) it was shown with ok=0
    std::map<int, int> calls_per_depth;
};
InnerCallback* g_inner = nullptr;

int inner_callback(int ok, X509_STORE_CTX* store) {
    const int depth = X509_STORE_CTX_get_error_depth(store);
    ++g_inner->calls_per_depth[depth];
    if (!ok) {
        g_inner->errors.emplace_back(depth, X509_STORE_CTX_get_error(store));
        return g_inner->accept_everything ? 1 : 0;
    }
    return 1;
}

std::vector<WaivedExpiry> g_events;     // verifications that waived something
std::vector<WaivedExpiry> g_verified;   // every verification that succeeded
void record_event(const WaivedExpiry& event, void*) noexcept {
    g_verified.push_back(event);
    if (event.waived_count > 0) g_events.push_back(event);
}

class ExpiryWaiverTest : public ::testing::Test {
protected:
    void SetUp() override {
        g_inner = &inner_;
        g_events.clear();
        g_verified.clear();
        root_ = make_ca("Polycom Root CA", nullptr);
        policy_ = make_ca("Polycom Equipment Policy CA", &root_);
        issuing_ = make_ca("Polycom Equipment Issuing CA 1", &policy_);
        anchors_pem_ = to_pem(root_.cert.get());
    }

    // Verifies `leaf` sent with `sent` (the peer's chain) against a store that
    // trusts `trusted`, through a waiver in `mode` whose anchors are anchors_pem_.
    int verify(ExpiryMode mode, X509* leaf, std::vector<X509*> sent, std::vector<X509*> trusted) {
        const auto anchors = TrustAnchors::from_pem(anchors_pem_, "anchors");
        ExpiryWaiver waiver(mode, &anchors, &record_event, nullptr);
        X509_STORE* store = X509_STORE_new();
        for (X509* t : trusted) X509_STORE_add_cert(store, t);
        STACK_OF(X509)* chain = sk_X509_new_null();
        for (X509* c : sent) sk_X509_push(chain, c);
        X509_STORE_CTX* ctx = X509_STORE_CTX_new();
        X509_STORE_CTX_init(ctx, store, leaf, chain);
        X509_STORE_CTX_set_verify_cb(ctx, inner_callback);
        const int rc = ExpiryWaiver::verify(ctx, &waiver);
        final_error_ = X509_STORE_CTX_get_error(ctx);
        X509_STORE_CTX_free(ctx);
        sk_X509_free(chain);
        X509_STORE_free(store);
        return rc;
    }
    int verify_polycom(ExpiryMode mode, X509* leaf, const Credential& issuing) {
        return verify(mode, leaf, {issuing.cert.get()}, {root_.cert.get(), policy_.cert.get()});
    }

    InnerCallback inner_;
    Credential root_, policy_, issuing_;
    std::string anchors_pem_;
    int final_error_ = 0;
};

}  // namespace

TEST_F(ExpiryWaiverTest, ParsesModes) {
    EXPECT_EQ(parse_expiry_mode("off"), ExpiryMode::off);
    EXPECT_EQ(parse_expiry_mode("leaf"), ExpiryMode::leaf);
    EXPECT_EQ(parse_expiry_mode("chain"), ExpiryMode::chain);
    EXPECT_FALSE(parse_expiry_mode("Leaf").has_value());
    EXPECT_FALSE(parse_expiry_mode("on").has_value());
    EXPECT_STREQ(to_string(ExpiryMode::chain), "chain");
}

TEST_F(ExpiryWaiverTest, ValidChainVerifiesWithoutEvents) {
    const auto leaf = make_leaf("0004F2000001", issuing_);
    EXPECT_EQ(verify_polycom(ExpiryMode::leaf, leaf.cert.get(), issuing_), 1);
    EXPECT_EQ(final_error_, X509_V_OK);
    EXPECT_TRUE(g_events.empty());
    EXPECT_TRUE(inner_.errors.empty());
    // Still reported as a success that waived nothing: a resumed session
    // must be able to tell "nothing waived" from "unknown".
    ASSERT_EQ(g_verified.size(), 1u);
    EXPECT_EQ(g_verified[0].waived_count, 0);
    EXPECT_FALSE(g_verified[0].leaf_waived || g_verified[0].ca_waived);
}

namespace {
const X509* g_vetoed = nullptr;
bool veto_all(const X509* cert, void*) noexcept {
    g_vetoed = cert;
    return true;
}
}  // namespace

TEST_F(ExpiryWaiverTest, AVetoKeepsTheExpiryFatal) {
    const auto leaf = make_leaf("0004F2000003", issuing_, kExpired);
    const auto anchors = TrustAnchors::from_pem(anchors_pem_, "anchors");
    ExpiryWaiver waiver(ExpiryMode::leaf, &anchors, &record_event, nullptr);
    waiver.set_veto(&veto_all, nullptr);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, root_.cert.get());
    X509_STORE_add_cert(store, policy_.cert.get());
    STACK_OF(X509)* chain = sk_X509_new_null();
    sk_X509_push(chain, issuing_.cert.get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf.cert.get(), chain);
    X509_STORE_CTX_set_verify_cb(ctx, inner_callback);
    EXPECT_EQ(ExpiryWaiver::verify(ctx, &waiver), 0);
    EXPECT_EQ(X509_STORE_CTX_get_error(ctx), X509_V_ERR_CERT_HAS_EXPIRED);
    EXPECT_EQ(X509_cmp(g_vetoed, leaf.cert.get()), 0) << "asked about the expired certificate";
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);
    X509_STORE_free(store);
    EXPECT_TRUE(g_events.empty());
}

TEST_F(ExpiryWaiverTest, OffWaivesNothing) {
    const auto leaf = make_leaf("0004F2000003", issuing_, kExpired);
    EXPECT_EQ(verify_polycom(ExpiryMode::off, leaf.cert.get(), issuing_), 0);
    EXPECT_EQ(final_error_, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(ExpiryWaiverTest, LeafModeWaivesAnExpiredLeafAsIfItWereValid) {
    const auto leaf = make_leaf("0004F2000003", issuing_, kExpired);
    EXPECT_EQ(verify_polycom(ExpiryMode::leaf, leaf.cert.get(), issuing_), 1);
    EXPECT_EQ(final_error_, X509_V_OK);  // what makes mod_ssl say SUCCESS
    // The inner callback never saw the expiry, and saw each depth once.
    EXPECT_TRUE(inner_.errors.empty());
    EXPECT_EQ(inner_.calls_per_depth, (std::map<int, int>{{0, 1}, {1, 1}, {2, 1}, {3, 1}}));
    ASSERT_EQ(g_events.size(), 1u);
    EXPECT_EQ(g_events[0].expired_depth, 0);
    EXPECT_EQ(g_events[0].waived_count, 1);
    EXPECT_EQ(X509_cmp(g_events[0].leaf, leaf.cert.get()), 0);
    EXPECT_EQ(g_events[0].ssl, nullptr);
    EXPECT_TRUE(g_events[0].leaf_waived);
    EXPECT_FALSE(g_events[0].ca_waived);
    EXPECT_EQ(X509_cmp(g_events[0].anchor, root_.cert.get()), 0);
}

TEST_F(ExpiryWaiverTest, LeafModeKeepsAnExpiredIssuingCaFatal) {
    const auto retired = make_ca("Polycom Equipment Issuing CA 0", &policy_, kExpired);
    const auto leaf = make_leaf("0004F2000005", retired, kValid);
    EXPECT_EQ(verify_polycom(ExpiryMode::leaf, leaf.cert.get(), retired), 0);
    EXPECT_EQ(final_error_, X509_V_ERR_CERT_HAS_EXPIRED);
    ASSERT_EQ(inner_.errors.size(), 1u);
    EXPECT_EQ(inner_.errors[0], std::make_pair(1, X509_V_ERR_CERT_HAS_EXPIRED));
    EXPECT_TRUE(g_events.empty());
}

TEST_F(ExpiryWaiverTest, ChainModeWaivesExpiredIntermediatesAndLeaf) {
    const auto retired = make_ca("Polycom Equipment Issuing CA 0", &policy_, kExpired);
    const auto leaf = make_leaf("0004F2000004", retired, kExpired);
    EXPECT_EQ(verify_polycom(ExpiryMode::chain, leaf.cert.get(), retired), 1);
    EXPECT_EQ(final_error_, X509_V_OK);
    ASSERT_EQ(g_events.size(), 1u);
    EXPECT_EQ(g_events[0].waived_count, 2);
    EXPECT_EQ(g_events[0].expired_depth, 1);
    EXPECT_EQ(X509_cmp(g_events[0].expired, retired.cert.get()), 0);
    EXPECT_TRUE(g_events[0].leaf_waived);
    EXPECT_TRUE(g_events[0].ca_waived);
}

TEST_F(ExpiryWaiverTest, NeverWaivesAnExpiredAnchor) {
    auto old_root = make_ca("Polycom Root CA", nullptr, kExpired);
    auto policy = make_ca("Polycom Equipment Policy CA", &old_root);
    auto issuing = make_ca("Polycom Equipment Issuing CA 1", &policy);
    const auto leaf = make_leaf("0004F2000001", issuing);
    anchors_pem_ = to_pem(old_root.cert.get());
    EXPECT_EQ(verify(ExpiryMode::chain, leaf.cert.get(), {issuing.cert.get()}, {old_root.cert.get(), policy.cert.get()}), 0);
    EXPECT_EQ(final_error_, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(ExpiryWaiverTest, OtherFaultsReachTheInnerCallbackUnchanged) {
    const auto not_yet = make_leaf("0004F2000006", issuing_, kNotYetValid);
    EXPECT_EQ(verify_polycom(ExpiryMode::chain, not_yet.cert.get(), issuing_), 0);
    EXPECT_EQ(final_error_, X509_V_ERR_CERT_NOT_YET_VALID);

    const auto expired = make_leaf("0004F2000009", issuing_, kExpired);
    const auto forged = with_bad_signature(expired.cert.get());
    EXPECT_EQ(verify_polycom(ExpiryMode::chain, forged.get(), issuing_), 0);
    EXPECT_EQ(final_error_, X509_V_ERR_CERT_SIGNATURE_FAILURE);
    EXPECT_TRUE(g_events.empty());
}

TEST_F(ExpiryWaiverTest, OnlyConfiguredAnchorsCount) {
    const auto other_root = make_ca("Other Vendor Root CA", nullptr);
    const auto leaf = make_leaf("0004F200000E", other_root, kExpired);
    // The store trusts the other root; the anchors name only Polycom's.
    EXPECT_EQ(verify(ExpiryMode::leaf, leaf.cert.get(), {}, {root_.cert.get(), other_root.cert.get()}), 0);
    EXPECT_EQ(final_error_, X509_V_ERR_CERT_HAS_EXPIRED);
    // A look-alike root with Polycom's name is not Polycom's root either.
    const auto fake_root = make_ca("Polycom Root CA", nullptr);
    const auto fake_leaf = make_leaf("0004F200000B", fake_root, kExpired);
    EXPECT_EQ(verify(ExpiryMode::leaf, fake_leaf.cert.get(), {}, {fake_root.cert.get()}), 0);
}

TEST_F(ExpiryWaiverTest, NoWaiverOnTopOfAnOverlookedFault) {
    // optional_no_ca: the inner callback overlooks "unable to get issuer";
    // the expiry after it must still reach it as a failure.
    inner_.accept_everything = true;
    const auto fake_root = make_ca("Polycom Root CA", nullptr);
    const auto fake_issuing = make_ca("Polycom Equipment Issuing CA 1", &fake_root);
    const auto leaf = make_leaf("0004F200000B", fake_issuing, kExpired);
    verify(ExpiryMode::chain, leaf.cert.get(), {fake_issuing.cert.get()}, {root_.cert.get()});
    bool saw_expiry = false;
    for (const auto& [depth, error] : inner_.errors) saw_expiry |= (depth == 0 && error == X509_V_ERR_CERT_HAS_EXPIRED);
    EXPECT_TRUE(saw_expiry);
    EXPECT_TRUE(g_events.empty());
}

TEST_F(ExpiryWaiverTest, SelfSignedExpiredLeafIsNotWaived) {
    inner_.accept_everything = true;
    const auto self = make_ca("0004F200000D", nullptr, kExpired);
    verify(ExpiryMode::chain, self.cert.get(), {}, {root_.cert.get()});
    EXPECT_NE(final_error_, X509_V_OK);
    EXPECT_TRUE(g_events.empty());
}

TEST_F(ExpiryWaiverTest, NoAnchorsMeansNoWaiver) {
    EXPECT_EQ(ExpiryWaiver(ExpiryMode::leaf, nullptr).mode(), ExpiryMode::off);
    const auto leaf = make_leaf("0004F2000003", issuing_, kExpired);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, root_.cert.get());
    X509_STORE_add_cert(store, policy_.cert.get());
    X509_STORE_add_cert(store, issuing_.cert.get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf.cert.get(), nullptr);
    ExpiryWaiver waiver(ExpiryMode::leaf, nullptr);
    EXPECT_EQ(ExpiryWaiver::verify(ctx, &waiver), 0);
    EXPECT_EQ(X509_STORE_CTX_get_error(ctx), X509_V_ERR_CERT_HAS_EXPIRED);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
}
