// The revocation history compiled into the table every process maps.
#include <gtest/gtest.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <openssl/bn.h>
#include <openssl/x509.h>

#include <polyprov/crl_set.hpp>
#include <polyprov/error.hpp>
#include <polyprov/revocation_history.hpp>
#include <polyprov/revoked_set.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

X509Ptr with_serial(const X509* cert, long serial) {
    X509Ptr copy(X509_dup(const_cast<X509*>(cert)));
    ASN1_INTEGER_set(X509_get_serialNumber(copy.get()), serial);
    return copy;
}

struct Fixture {
    Credential root = make_ca("Polycom Root CA", nullptr);
    Credential issuing = make_ca("Polycom Equipment Issuing CA 1", &root);
    Credential other = make_ca("Polycom Equipment Issuing CA 2", &root);
    RevocationHistory history;

    Fixture() {
        std::vector<X509Ptr> bundle;
        for (const Credential* c : {&root, &issuing, &other}) {
            X509_up_ref(c->cert.get());
            bundle.emplace_back(c->cert.get());
        }
        std::vector<FetchedCrl> v;
        v.push_back({"http://127.0.0.1/crl", make_crl(issuing, {{{"0100"}, {"-5"}, {"0200"}, {"0300"}}})});
        const CrlSet crls = CrlSet::check(std::move(v), std::move(bundle), "ca.pem", std::time(nullptr), 86400);
        history.merge(crls.crls()[0], std::time(nullptr));
    }
};

std::string refused(std::string bytes) {
    auto owner = std::make_shared<std::string>(std::move(bytes));
    const std::string_view view = *owner;
    try {
        RevokedSet::from_table(owner, view, "snapshot");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(RevokedSet, AnswersAsTheHistoryDoesFromItsBytesAlone) {
    const Fixture f;
    const auto phone = make_leaf("0004F2000007", f.issuing);
    const RevokedSet compiled = RevokedSet::parse(f.history.serialize(), "history");
    auto copy = std::make_shared<std::string>(compiled.bytes());
    const std::string_view bytes = *copy;
    const RevokedSet set = RevokedSet::from_table(std::move(copy), bytes, "snapshot");
    ASSERT_EQ(set.size(), 4u);
    for (long serial : {0x100L, -5L, 0x200L, 0x300L, 0x1L, 5L, 0x10000L, 0x250L}) {
        const auto cert = with_serial(phone.cert.get(), serial);
        EXPECT_EQ(set.lists(cert.get()), f.history.lists(cert.get())) << serial;
    }
    EXPECT_TRUE(set.lists(with_serial(phone.cert.get(), 0x300).get()));
    EXPECT_FALSE(set.lists(with_serial(phone.cert.get(), 0x301).get()));
    // The same serial from another issuer is another certificate.
    const auto stranger = make_leaf("0004F2000007", f.other);
    EXPECT_FALSE(set.lists(with_serial(stranger.cert.get(), 0x100).get()));
    EXPECT_FALSE(RevokedSet::parse("", "empty").lists(phone.cert.get()));
    // Compiling is deterministic: the watcher's digest names the content.
    EXPECT_EQ(RevokedSet::of(f.history).bytes(), compiled.bytes());
}

TEST(RevokedSet, ADamagedTableIsRefused) {
    const Fixture f;
    const std::string good(RevokedSet::of(f.history).bytes());
    EXPECT_EQ(refused(good), "");
    EXPECT_EQ(refused(good.substr(0, 20)), "snapshot: not a usable revocation table: too short or misaligned");
    std::string b = good;
    b[0] = 'X';
    EXPECT_EQ(refused(b), "snapshot: not a usable revocation table: unknown layout");
    EXPECT_EQ(refused(good + "x"), "snapshot: not a usable revocation table: its size disagrees with its header");
    // The first key's end beyond the table; the first two keys swapped in order.
    b = good;
    const std::uint32_t far = 1u << 30;
    std::memcpy(&b[32], &far, sizeof far);
    EXPECT_EQ(refused(b), "snapshot: not a usable revocation table: a key out of place");
    b = good;
    std::uint32_t first_end = 0;
    std::memcpy(&first_end, &good[32], sizeof first_end);
    const std::size_t keys_at = 32 + 4 * 4;
    std::swap(b[keys_at + first_end - 1], b[keys_at + first_end + 33]);   // serial bytes of keys 0 and 1
    EXPECT_NE(refused(b), "");
}
