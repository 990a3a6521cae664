#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <polyprov/error.hpp>
#include <polyprov/trust_anchors.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

// The message of the Error that loading `pem` throws, or "" when it loads.
std::string load_error(const std::string& pem) {
    try {
        TrustAnchors::from_pem(pem, "anchors.pem");
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

}  // namespace

TEST(TrustAnchors, LoadsCaCertificatesAndToleratesTextBetweenThem) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto other = make_ca("Other Root CA", nullptr);
    const std::string pem = "subject=Polycom Root CA\n" + to_pem(root.cert.get()) + "\n# the other one\n" +
                            to_pem(other.cert.get());
    const auto anchors = TrustAnchors::from_pem(pem, "anchors.pem");
    EXPECT_EQ(anchors.size(), 2u);
    EXPECT_TRUE(anchors.contains(root.cert.get()));
    EXPECT_TRUE(anchors.contains(other.cert.get()));
}

TEST(TrustAnchors, MatchesBytesNotNames) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto lookalike = make_ca("Polycom Root CA", nullptr);  // same name, other key
    const auto anchors = TrustAnchors::from_pem(to_pem(root.cert.get()), "anchors.pem");
    EXPECT_TRUE(anchors.contains(root.cert.get()));
    EXPECT_FALSE(anchors.contains(lookalike.cert.get()));
    EXPECT_FALSE(anchors.contains(nullptr));
}

TEST(TrustAnchors, RefusesAnEmptyOrNonPemFile) {
    EXPECT_NE(load_error("").find("anchors.pem: holds no PEM certificate"), std::string::npos);
    EXPECT_NE(load_error("just some text\n").find("holds no PEM certificate"), std::string::npos);
    // DER bytes are not PEM.
    const auto root = make_ca("Polycom Root CA", nullptr);
    unsigned char* der = nullptr;
    const int len = i2d_X509(root.cert.get(), &der);
    const std::string der_text(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    EXPECT_NE(load_error(der_text).find("holds no PEM certificate"), std::string::npos);
}

TEST(TrustAnchors, RefusesKeysLeavesAndDamagedBlocks) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto leaf = make_leaf("0004F2000001", root);
    const std::string root_pem = to_pem(root.cert.get());

    EXPECT_NE(load_error(root_pem + key_to_pem(root.key.get())).find("PEM block 2 is a \"PRIVATE KEY\", not a CERTIFICATE"),
              std::string::npos);
    EXPECT_NE(load_error(to_pem(leaf.cert.get())).find("PEM block 1 is not a CA certificate"), std::string::npos);

    std::string truncated = root_pem.substr(0, root_pem.size() / 2);
    EXPECT_NE(load_error(truncated).find("damaged"), std::string::npos);
    std::string bad_body = root_pem;
    bad_body.replace(bad_body.find('\n') + 1, 8, "********");
    EXPECT_NE(load_error(bad_body).find("damaged"), std::string::npos);
    EXPECT_NE(load_error("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").find("not a valid X.509 certificate"),
              std::string::npos);
}

TEST(TrustAnchors, FileErrorsNameThePath) {
    try {
        TrustAnchors::load_pem_file("/nonexistent/polycom-root.pem");
        FAIL() << "loaded a missing file";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "/nonexistent/polycom-root.pem: cannot be read: No such file or directory");
    }
    const auto root = make_ca("Polycom Root CA", nullptr);
    const std::string path = ::testing::TempDir() + "polyprov-anchors-test.pem";
    std::ofstream(path) << to_pem(root.cert.get());
    EXPECT_EQ(TrustAnchors::load_pem_file(path).size(), 1u);
    std::remove(path.c_str());
}
