#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <polyprov/ca_bundle.hpp>
#include <polyprov/error.hpp>
#include <polyprov/trust_anchors.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

std::string to_der(const X509* cert) {
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

X509Ptr copy(const X509* cert) { return X509Ptr(X509_dup(const_cast<X509*>(cert))); }

NamedCertificate named(const std::string& origin, const X509* cert) { return {origin, copy(cert)}; }

std::string decode_error(const std::string& bytes) {
    try {
        decode_der_certificate(bytes, "http://127.0.0.1/x.crt");
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

// Poly's published shape: root -> policy CA -> issuing CAs 1 and 2.
struct PolyCas {
    Credential root = make_ca("Polycom Root CA", nullptr);
    Credential policy = make_ca("Polycom Equipment Policy CA", &root);
    Credential issuing1 = make_ca("Polycom Equipment Issuing CA 1", &policy);
    Credential issuing2 = make_ca("Polycom Equipment Issuing CA 2", &policy);

    std::vector<NamedCertificate> intermediates() const {
        std::vector<NamedCertificate> out;
        out.push_back(named("policy.crt", policy.cert.get()));
        out.push_back(named("issuing1.crt", issuing1.cert.get()));
        out.push_back(named("issuing2.crt", issuing2.cert.get()));
        return out;
    }
};

std::string check_error(NamedCertificate root, std::vector<NamedCertificate> intermediates) {
    try {
        CaBundle::check(std::move(root), std::move(intermediates));
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

std::size_t count(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace

TEST(DecodeDerCertificate, ReadsOneCertificate) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto der = decode_der_certificate(to_der(root.cert.get()), "root.crt");
    EXPECT_EQ(X509_cmp(der.get(), root.cert.get()), 0);
}

TEST(DecodeDerCertificate, RefusesWhatIsNotExactlyOneCertificate) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const std::string der = to_der(root.cert.get());
    EXPECT_EQ(decode_error(""), "http://127.0.0.1/x.crt: is empty");
    EXPECT_EQ(decode_error(to_pem(root.cert.get())), "http://127.0.0.1/x.crt: is not a DER certificate");
    EXPECT_EQ(decode_error("\x30\x82garbage"), "http://127.0.0.1/x.crt: is not a DER certificate");
    EXPECT_EQ(decode_error(der.substr(0, der.size() - 1)), "http://127.0.0.1/x.crt: is not a DER certificate");
    EXPECT_EQ(decode_error(der + "xyz"), "http://127.0.0.1/x.crt: has 3 bytes after the certificate");
    // A DER structure that is not a certificate (a bare SEQUENCE).
    EXPECT_EQ(decode_error(std::string("\x30\x03\x02\x01\x01", 5)), "http://127.0.0.1/x.crt: is not a DER certificate");
}

TEST(CaBundle, AcceptsPolysShapeAndWritesAnchorAndBundle) {
    const PolyCas cas;
    const auto bundle = CaBundle::check(named("root.crt", cas.root.cert.get()), cas.intermediates());
    EXPECT_EQ(bundle.intermediates().size(), 3u);

    const std::string anchor = bundle.anchor_pem();
    EXPECT_EQ(count(anchor, "-----BEGIN CERTIFICATE-----"), 1u);
    const auto anchors = TrustAnchors::from_pem(anchor, "polycom-root.pem");
    EXPECT_TRUE(anchors.contains(cas.root.cert.get()));
    EXPECT_FALSE(anchors.contains(cas.policy.cert.get()));
    EXPECT_NE(anchor.find("# Polycom Root CA, not after "), std::string::npos);

    // The bundle holds all four, root first, in the order given, each exactly.
    const std::string ca = bundle.ca_pem();
    EXPECT_EQ(count(ca, "-----BEGIN CERTIFICATE-----"), 4u);
    EXPECT_EQ(ca.find(anchor), 0u);
    const auto policy_at = ca.find(to_pem(cas.policy.cert.get()));
    const auto issuing1_at = ca.find(to_pem(cas.issuing1.cert.get()));
    const auto issuing2_at = ca.find(to_pem(cas.issuing2.cert.get()));
    ASSERT_NE(policy_at, std::string::npos);
    ASSERT_NE(issuing1_at, std::string::npos);
    ASSERT_NE(issuing2_at, std::string::npos);
    EXPECT_LT(policy_at, issuing1_at);
    EXPECT_LT(issuing1_at, issuing2_at);
}

TEST(CaBundle, AcceptsAnExpiredIssuingCa) {
    const PolyCas cas;
    const auto retired = make_ca("Polycom Equipment Issuing CA 0", &cas.policy, kExpired);
    auto intermediates = cas.intermediates();
    intermediates.push_back(named("issuing0.crt", retired.cert.get()));
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(intermediates)), "");
}

TEST(CaBundle, RefusesARootThatIsNotASelfSignedCa) {
    const PolyCas cas;
    EXPECT_EQ(check_error(named("root.crt", cas.policy.cert.get()), {}),
              "root.crt: \"Polycom Equipment Policy CA\" is not self-signed, so it cannot be the root");
    const auto leaf = make_leaf("0004F2000001", cas.issuing1);
    EXPECT_EQ(check_error(named("root.crt", leaf.cert.get()), {}),
              "root.crt: \"0004F2000001\" is not a CA certificate (no CA:TRUE basic constraint)");
    const auto forged = with_bad_signature(cas.root.cert.get());
    EXPECT_EQ(check_error(named("root.crt", forged.get()), {}),
              "root.crt: \"Polycom Root CA\" has a self-signature that does not verify");
}

TEST(CaBundle, RefusesIntermediatesThatDoNotChainToTheRoot) {
    const PolyCas cas;
    const PolyCas impostor;  // same names, other keys
    auto mixed = cas.intermediates();
    mixed[1] = named("issuing1.crt", impostor.issuing1.cert.get());
    const std::string err = check_error(named("root.crt", cas.root.cert.get()), std::move(mixed));
    EXPECT_EQ(err.rfind("issuing1.crt: \"Polycom Equipment Issuing CA 1\" does not chain to the root "
                        "\"Polycom Root CA\": ", 0), 0u) << err;

    // Without the policy CA the issuing CAs have no path to the root.
    auto no_policy = cas.intermediates();
    no_policy.erase(no_policy.begin());
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(no_policy)),
              "issuing1.crt: \"Polycom Equipment Issuing CA 1\" does not chain to the root \"Polycom Root CA\": "
              "unable to get local issuer certificate (depth 0)");

    auto forged = cas.intermediates();
    forged[2] = {"issuing2.crt", with_bad_signature(cas.issuing2.cert.get())};
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(forged)),
              "issuing2.crt: \"Polycom Equipment Issuing CA 2\" does not chain to the root \"Polycom Root CA\": "
              "certificate signature failure (depth 0)");
}

TEST(CaBundle, RefusesALeafOrTheRootAmongTheIntermediates) {
    const PolyCas cas;
    const auto leaf = make_leaf("0004F2000001", cas.issuing1);
    auto with_leaf = cas.intermediates();
    with_leaf.push_back(named("phone.crt", leaf.cert.get()));
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(with_leaf)),
              "phone.crt: \"0004F2000001\" is not a CA certificate (no CA:TRUE basic constraint)");
    auto with_root = cas.intermediates();
    with_root.push_back(named("root-again.crt", cas.root.cert.get()));
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(with_root)),
              "root-again.crt: is the root again, not an intermediate");
}

namespace {

// `cert` changed by `edit`, then signed again by `signer`.
template <typename Edit>
X509Ptr resigned(const X509* cert, const EVP_PKEY* signer, Edit edit) {
    X509Ptr out = copy(cert);
    edit(out.get());
    X509_sign(out.get(), const_cast<EVP_PKEY*>(signer), EVP_sha256());
    return out;
}

}  // namespace

TEST(CaBundle, RefusesDuplicatesAndUnexpectedNames) {
    const PolyCas cas;
    auto twice = cas.intermediates();
    twice[2] = named("issuing2.crt", cas.policy.cert.get());
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(twice)),
              "issuing2.crt: is the same certificate as policy.crt");

    auto renamed = cas.intermediates();
    renamed[1].expected_cn = "Polycom Equipment Issuing CA 1";
    renamed[2].expected_cn = "Polycom Equipment Issuing CA 1";
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(renamed)),
              "issuing2.crt: holds \"Polycom Equipment Issuing CA 2\", not \"Polycom Equipment Issuing CA 1\"");

    // A name made to rewrite the terminal comes back escaped.
    const auto sly = make_ca("Polycom Root CA\n  sha256 AB:CD\x1b[8m", nullptr);
    NamedCertificate root = named("root.crt", sly.cert.get());
    root.expected_cn = "Polycom Root CA";
    EXPECT_EQ(check_error(std::move(root), {}),
              "root.crt: holds \"Polycom Root CA\\x0A  sha256 AB:CD\\x1B[8m\", not \"Polycom Root CA\"");
}

TEST(CaBundle, RefusesCasMissingCaTrueOrBarredFromClientCertificates) {
    const PolyCas cas;
    // keyCertSign without basicConstraints: OpenSSL calls it a CA; we do not.
    const auto bare_root = resigned(cas.root.cert.get(), cas.root.key.get(), [](X509* c) {
        X509_EXTENSION_free(X509_delete_ext(c, X509_get_ext_by_NID(c, NID_basic_constraints, -1)));
    });
    ASSERT_GT(X509_check_ca(bare_root.get()), 0);
    EXPECT_EQ(check_error(named("root.crt", bare_root.get()), {}),
              "root.crt: \"Polycom Root CA\" is not a CA certificate (no CA:TRUE basic constraint)");

    const auto server_only = resigned(cas.issuing1.cert.get(), cas.policy.key.get(), [](X509* c) {
        X509_EXTENSION* eku = X509V3_EXT_conf_nid(nullptr, nullptr, NID_ext_key_usage, "serverAuth");
        X509_add_ext(c, eku, -1);
        X509_EXTENSION_free(eku);
    });
    auto intermediates = cas.intermediates();
    intermediates[1] = named("issuing1.crt", server_only.get());
    EXPECT_EQ(check_error(named("root.crt", cas.root.cert.get()), std::move(intermediates)),
              "issuing1.crt: \"Polycom Equipment Issuing CA 1\" may not issue TLS client certificates "
              "(its extended key usage excludes clientAuth)");
}
