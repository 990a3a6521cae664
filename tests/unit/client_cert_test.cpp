#include <gtest/gtest.h>

#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <openssl/evp.h>

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

namespace {

// A subject of the given CN attributes: (ASN.1 string type, raw bytes).
X509Ptr with_subject(const std::vector<std::pair<int, std::string>>& cns) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    auto leaf = make_leaf("placeholder", ca);
    // Edited in place: a copy would go through d2i, which refuses some of
    // these names outright (OpenSSL is the first line; this is the second).
    X509_NAME* name = X509_get_subject_name(leaf.cert.get());
    while (X509_NAME_entry_count(name) > 0) X509_NAME_ENTRY_free(X509_NAME_delete_entry(name, 0));
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Polycom Inc."), -1, -1, 0);
    for (const auto& [type, bytes] : cns) {
        // The raw bytes under the declared type, whatever OpenSSL would
        // let a name builder write (an attacker's encoder has no scruples).
        X509_NAME_ENTRY* entry = X509_NAME_ENTRY_create_by_NID(
            nullptr, NID_commonName, V_ASN1_UTF8STRING, reinterpret_cast<const unsigned char*>("x"), 1);
        ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
        ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size()));
        value->type = type;
        EXPECT_EQ(X509_NAME_add_entry(name, entry, -1, 0), 1) << "type " << type;
        X509_NAME_ENTRY_free(entry);
    }
    return std::move(leaf.cert);
}

std::optional<std::string> single(const std::vector<std::pair<int, std::string>>& cns) {
    return single_common_name(with_subject(cns).get());
}

}  // namespace

TEST(ClientCert, SingleCommonNameIsTheOnlyIdentity) {
    EXPECT_EQ(single({{V_ASN1_PRINTABLESTRING, "0004F2000001"}}), "0004F2000001");
    EXPECT_EQ(single({{V_ASN1_UTF8STRING, "SEP0004F2000001"}}), "SEP0004F2000001");
    EXPECT_EQ(single({{V_ASN1_IA5STRING, "0004f2000001"}}), "0004f2000001");
    EXPECT_EQ(single({{V_ASN1_UTF8STRING, "T\xc3\xa9l\xc3\xa9phone 0004F2000001"}}), "T\xc3\xa9l\xc3\xa9phone 0004F2000001");
    EXPECT_EQ(single({{V_ASN1_BMPSTRING, std::string("\0" "0\0" "0\0" "0\0" "4", 8)}}), "0004");

    // Two identities in one subject: the first is what mod_ssl shows, the last
    // what a careless reader takes.
    EXPECT_FALSE(single({{V_ASN1_PRINTABLESTRING, "0004F2000002"}, {V_ASN1_PRINTABLESTRING, "0004F2000001"}}));
    EXPECT_FALSE(single({}));
    // A NUL would cut the name short in every C string that carries it.
    EXPECT_FALSE(single({{V_ASN1_UTF8STRING, std::string("0004F2000001\0 0004F2000002", 26)}}));
    EXPECT_FALSE(single({{V_ASN1_IA5STRING, std::string("0004F2000001\0", 13)}}));
    EXPECT_FALSE(single({{V_ASN1_UTF8STRING, "0004F2000001\n"}}));
    EXPECT_FALSE(single({{V_ASN1_UTF8STRING, "0004F2000001\x1b[2J"}}));
    // Not valid in the type it declares.
    EXPECT_FALSE(single({{V_ASN1_PRINTABLESTRING, "0004F2000001*"}}));
    EXPECT_FALSE(single({{V_ASN1_PRINTABLESTRING, "0004F2000001_x"}}));
    EXPECT_FALSE(single({{V_ASN1_UTF8STRING, "0004F2000001\xff"}}));
    EXPECT_FALSE(single({{V_ASN1_UTF8STRING, "\xc0\xb0" "004F2000001"}})) << "overlong";
    EXPECT_FALSE(single({{V_ASN1_UTF8STRING, "\xed\xa0\x80"}})) << "surrogate";
    EXPECT_FALSE(single({{V_ASN1_UTF8STRING, "\xc2\x85"}})) << "C1 control";
    EXPECT_FALSE(single({{V_ASN1_IA5STRING, "0004F2000001\xe9"}}));
    EXPECT_FALSE(single({{V_ASN1_T61STRING, "0004F2000001\xe9"}}));
    // (An odd-length BMPString or a CN of a non-string type never gets this
    // far: OpenSSL's decoder refuses the name, and so the certificate.)
}

TEST(ClientCert, FingerprintIsTheDerDigest) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    const auto leaf = make_leaf("0004F2000001", ca);
    const auto fp = certificate_sha256(leaf.cert.get());
    ASSERT_TRUE(fp);
    unsigned char* der = nullptr;
    const int len = i2d_X509(leaf.cert.get(), &der);
    unsigned char expected[32];
    EVP_Digest(der, static_cast<std::size_t>(len), expected, nullptr, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    EXPECT_EQ(0, std::memcmp(fp->data(), expected, 32));
    EXPECT_FALSE(certificate_sha256(nullptr)) << "no made-up digest for what cannot be hashed";
}

TEST(ClientCert, NotAfterSeconds) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    ASN1_TIME_set_string(X509_getm_notAfter(ca.cert.get()), "20240301120000Z");
    EXPECT_EQ(not_after(ca.cert.get()), std::time_t{1709294400});
}

TEST(ClientCert, NotAfterIsIso8601Utc) {
    const auto ca = make_ca("Polycom Root CA", nullptr);
    ASN1_TIME_set_string(X509_getm_notAfter(ca.cert.get()), "20240301120000Z");
    EXPECT_EQ(not_after_iso8601(ca.cert.get()), "2024-03-01T12:00:00Z");
}
