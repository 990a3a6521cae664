#include <gtest/gtest.h>

#include <ctime>

#include <polyprov/client_cert.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

TEST(ClientCert, ParsesPemAndRejectsGarbage) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    EXPECT_NE(parse_pem_certificate(to_pem(ca.cert.get())), nullptr);
    EXPECT_EQ(parse_pem_certificate(""), nullptr);
    EXPECT_EQ(parse_pem_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nullptr);
    EXPECT_EQ(parse_pem_certificate("not a certificate"), nullptr);
}

TEST(ClientCert, ExpiryFollowsNotAfter) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    const auto fresh = make_leaf("0004F2000001", ca, kValid);
    const auto old = make_leaf("0004F2000002", ca, kExpired);
    const std::time_t now = std::time(nullptr);
    EXPECT_FALSE(has_expired(fresh.cert.get(), now));
    EXPECT_TRUE(has_expired(old.cert.get(), now));
    // The same certificate, judged from a time before it expired.
    EXPECT_FALSE(has_expired(old.cert.get(), now - 400L * 86400));
}

TEST(ClientCert, CommonNameIsTheLastCn) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    auto leaf = make_leaf("0004F2000001", ca);
    EXPECT_EQ(subject_common_name(leaf.cert.get()), "0004F2000001");
    X509_NAME_add_entry_by_txt(X509_get_subject_name(leaf.cert.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("SEP0004F2000009"), -1, -1, 0);
    EXPECT_EQ(subject_common_name(leaf.cert.get()), "SEP0004F2000009");
}

TEST(ClientCert, NotAfterIsIso8601Utc) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    ASN1_TIME_set_string(X509_getm_notAfter(ca.cert.get()), "20240301120000Z");
    EXPECT_EQ(not_after_iso8601(ca.cert.get()), "2024-03-01T12:00:00Z");
}
