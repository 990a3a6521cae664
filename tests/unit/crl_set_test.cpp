#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <vector>

#include <polyprov/crl_freshness.hpp>
#include <polyprov/crl_set.hpp>
#include <polyprov/error.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

constexpr long kDay = 86400;
const std::string kRootCrl = "http://crl.polycom.com/crl/Polycom%20Root%20CA.crl";
const std::string kPolicyCrl = "http://crl.polycom.com/crl/Polycom%20Equipment%20Policy%20CA.crl";

// Poly's shape, with the distribution points Poly's CAs carry: the policy
// CA names the root's CRL, the issuing CAs the policy CA's.
struct PolyCas {
    Credential root = make_ca("Polycom Root CA", nullptr);
    Credential policy = make_ca("Polycom Equipment Policy CA", &root, kValid, kRootCrl);
    Credential issuing1 = make_ca("Polycom Equipment Issuing CA 1", &policy, kValid, kPolicyCrl);
    Credential issuing2 = make_ca("Polycom Equipment Issuing CA 2", &policy, kValid, kPolicyCrl);

    std::vector<X509Ptr> bundle() const {
        std::vector<X509Ptr> out;
        for (const Credential* c : {&root, &policy, &issuing1, &issuing2}) {
            X509_up_ref(c->cert.get());
            out.emplace_back(c->cert.get());
        }
        return out;
    }
};

X509NamePtr name_of(const Credential& c) { return X509NamePtr(X509_NAME_dup(X509_get_subject_name(c.cert.get()))); }

FetchedCrl fetched(const std::string& url, X509CrlPtr crl, const Credential* expected = nullptr) {
    FetchedCrl f{url, std::move(crl)};
    if (expected) f.expected_issuers.push_back(name_of(*expected));
    return f;
}

std::string check_error(const PolyCas& cas, FetchedCrl f, std::int64_t min_valid = kDay) {
    std::vector<FetchedCrl> v;
    v.push_back(std::move(f));
    try {
        CrlSet::check(std::move(v), cas.bundle(), "polycom-ca.pem", std::time(nullptr), min_valid);
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

std::string decode_error(const std::string& bytes) {
    try {
        decode_crl(bytes, "http://127.0.0.1/x.crl");
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST(CrlSources, ReadsTheDistributionPointsOfTheBundleInOrder) {
    const PolyCas cas;
    const auto sources = crl_sources(cas.bundle());
    ASSERT_EQ(sources.size(), 2u);
    EXPECT_EQ(sources[0].url, kRootCrl);
    EXPECT_EQ(sources[0].named_by, "\"Polycom Equipment Policy CA\"");
    ASSERT_EQ(sources[0].expected_issuers.size(), 1u);
    EXPECT_EQ(X509_NAME_cmp(sources[0].expected_issuers[0].get(), X509_get_subject_name(cas.root.cert.get())), 0);
    EXPECT_EQ(sources[1].url, kPolicyCrl);
    EXPECT_EQ(sources[1].named_by, "\"Polycom Equipment Issuing CA 1\", \"Polycom Equipment Issuing CA 2\"");
    ASSERT_EQ(sources[1].expected_issuers.size(), 1u);
    EXPECT_EQ(X509_NAME_cmp(sources[1].expected_issuers[0].get(), X509_get_subject_name(cas.policy.cert.get())), 0);
}

TEST(CrlSources, TakesOnlyHttpUris) {
    const auto root = make_ca("Root", nullptr);
    const auto ldap = make_ca("A", &root, kValid, "ldap://ldap.example.com/cn=Root?certificateRevocationList");
    const auto https = make_ca("B", &root, kValid, "https://pki.example.com/root.crl");
    std::vector<X509Ptr> bundle;
    for (const Credential* c : {&root, &ldap, &https}) {
        X509_up_ref(c->cert.get());
        bundle.emplace_back(c->cert.get());
    }
    const auto sources = crl_sources(bundle);
    ASSERT_EQ(sources.size(), 1u);
    EXPECT_EQ(sources[0].url, "https://pki.example.com/root.crl");
}

TEST(DecodeCrl, ReadsDerOrOnePemBlock) {
    const PolyCas cas;
    const auto crl = make_crl(cas.root, {{{"10"}}});
    EXPECT_EQ(crl_to_der(decode_crl(crl_to_der(crl.get()), "x").get()), crl_to_der(crl.get()));
    EXPECT_EQ(crl_to_der(decode_crl("text\n" + crl_to_pem(crl.get()), "x").get()), crl_to_der(crl.get()));

    const std::string der = crl_to_der(crl.get());
    EXPECT_EQ(decode_error(""), "http://127.0.0.1/x.crl: is empty");
    EXPECT_EQ(decode_error("<html><body>Not Found</body></html>"),
              "http://127.0.0.1/x.crl: is neither a DER nor a PEM CRL (the server sent something else: an error page?)");
    EXPECT_EQ(decode_error(der + "xyz"), "http://127.0.0.1/x.crl: has 3 bytes after the CRL");
    EXPECT_EQ(decode_error(der.substr(0, der.size() - 1)), "http://127.0.0.1/x.crl: is not a valid DER CRL");
    // A DER structure that is not a CRL (a bare SEQUENCE).
    EXPECT_EQ(decode_error(std::string("\x30\x03\x02\x01\x01", 5)), "http://127.0.0.1/x.crl: is not a valid DER CRL");
    EXPECT_EQ(decode_error(crl_to_pem(crl.get()) + crl_to_pem(crl.get())), "http://127.0.0.1/x.crl: holds 2 CRLs, not one");
}

TEST(CrlSet, AcceptsPolysCrlsAndRendersThemForModSsl) {
    const PolyCas cas;
    std::vector<FetchedCrl> v;
    v.push_back(fetched(kRootCrl, make_crl(cas.root, {}), &cas.root));
    v.push_back(fetched(kPolicyCrl, make_crl(cas.policy, {{{"2A", 10, 1}}}), &cas.policy));
    v.push_back(fetched("http://mirror/issuing1.crl", make_crl(cas.issuing1, {{{"05"}, {"06"}}})));
    const auto set = CrlSet::check(std::move(v), cas.bundle(), "polycom-ca.pem", std::time(nullptr), kDay);
    ASSERT_EQ(set.crls().size(), 3u);
    EXPECT_EQ(X509_cmp(set.crls()[1].issuer(), cas.policy.cert.get()), 0);
    EXPECT_EQ(set.crls()[2].origin(), "http://mirror/issuing1.crl");

    const std::string pem = set.pem();
    EXPECT_EQ(pem, set.pem());
    const auto back = parse_pem_crls(pem, "out.pem");
    ASSERT_EQ(back.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(crl_to_der(back[i].get()), crl_to_der(set.crls()[i].crl()));
    EXPECT_TRUE(starts_with(pem, "# CRL of \"CN=Polycom Root CA\" (" + kRootCrl + "): thisUpdate "));
    EXPECT_NE(pem.find("\n# CRL of \"CN=Polycom Equipment Issuing CA 1\" (http://mirror/issuing1.crl)"),
              std::string::npos);
    EXPECT_NE(pem.find(", 2 entries\n-----BEGIN X509 CRL-----"), std::string::npos);
}

TEST(CrlSet, RefusesASignatureByAnotherKey) {
    const PolyCas cas;
    const auto fake_policy = make_ca("Polycom Equipment Policy CA", &cas.root);  // same name, own key
    EXPECT_EQ(check_error(cas, fetched(kPolicyCrl, make_crl(fake_policy, {}), &cas.policy)),
              kPolicyCrl + ": the signature of this CRL of \"CN=Polycom Equipment Policy CA\" does "
                           "not verify with the key of that CA in polycom-ca.pem (another key signed it)");
}

TEST(CrlSet, RefusesTheCrlOfAnotherIssuer) {
    const PolyCas cas;
    EXPECT_EQ(check_error(cas, fetched(kPolicyCrl, make_crl(cas.root, {}), &cas.policy)),
              kPolicyCrl + ": is the CRL of \"CN=Polycom Root CA\", not of \"CN=Polycom Equipment Policy CA\" as "
                           "the certificates that name this URL require");
    const auto stranger = make_ca("Other Vendor Root CA", nullptr);
    EXPECT_EQ(check_error(cas, fetched("http://x/other.crl", make_crl(stranger, {}))),
              "http://x/other.crl: is the CRL of \"CN=Other Vendor Root CA\", which is not a CA in "
              "polycom-ca.pem");
}

TEST(CrlSet, RefusesAnIssuerThatMayNotSignCrls) {
    PolyCas cas;
    cas.issuing2 = make_ca("Polycom Equipment Issuing CA 2", &cas.policy, kValid, "", false);
    EXPECT_EQ(check_error(cas, fetched("http://x/i2.crl", make_crl(cas.issuing2, {}))),
              "http://x/i2.crl: \"CN=Polycom Equipment Issuing CA 2\" may not sign CRLs (its key "
              "usage lacks cRLSign)");
}

TEST(CrlSet, RefusesCrlsModSslWouldRefuseAtTheHandshake) {
    const PolyCas cas;
    const std::string future = check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, 3600, 30 * kDay})));
    EXPECT_TRUE(starts_with(future, kRootCrl + ": thisUpdate ")) << future;
    EXPECT_NE(future.find(" is in the future (is this machine's clock behind?): mod_ssl would refuse every phone"),
              std::string::npos)
        << future;

    const std::string expired = check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, -30 * kDay, -2 * kDay})));
    EXPECT_TRUE(starts_with(expired, kRootCrl + ": expired 2 days ago (nextUpdate ")) << expired;
    EXPECT_NE(expired.find("): mod_ssl would refuse every phone this CRL covers"), std::string::npos) << expired;

    const std::string soon = check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, -kDay, 12 * 3600})));
    EXPECT_TRUE(starts_with(soon, kRootCrl + ": nextUpdate ")) << soon;
    EXPECT_NE(soon.find(" away, less than the 1 day required"), std::string::npos) << soon;
    // The same CRL passes a smaller requirement, and one without nextUpdate never expires.
    EXPECT_EQ(check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, -kDay, 12 * 3600})), 3600), "");
    EXPECT_EQ(check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, -kDay, std::nullopt}))), "");
}

TEST(CrlSet, RefusesFormsItCannotUseWhole) {
    const PolyCas cas;
    EXPECT_EQ(check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, -kDay, 30 * kDay, true}))),
              kRootCrl + ": is a delta CRL; name the complete CRL instead");
    EXPECT_EQ(check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, -kDay, 30 * kDay, false, true}))),
              kRootCrl + ": has a critical extension OpenSSL does not handle (unknown): mod_ssl would refuse every "
                         "phone this CRL covers");
    EXPECT_EQ(check_error(cas, fetched(kRootCrl, make_crl(cas.root, {{}, -kDay, 30 * kDay, false, false, true}))),
              kRootCrl + ": is an indirect CRL (entries of other issuers), not supported");
}

TEST(CrlSet, TwoCrlsOfOneIssuer) {
    const PolyCas cas;
    // One made here, one decoded from its DER: equal bytes count as the same CRL.
    auto original = make_crl(cas.root, {{{"01"}}});
    X509CrlPtr copy(X509_CRL_dup(original.get()));
    std::vector<FetchedCrl> same;
    same.push_back(fetched(kRootCrl, std::move(original)));
    same.push_back(fetched("http://mirror/root.crl", std::move(copy)));
    EXPECT_EQ(CrlSet::check(std::move(same), cas.bundle(), "ca", std::time(nullptr), kDay).crls().size(), 1u);

    std::vector<FetchedCrl> different;
    different.push_back(fetched(kRootCrl, make_crl(cas.root, {{{"01"}}})));
    different.push_back(fetched("http://mirror/root.crl", make_crl(cas.root, {{{"02"}}})));
    try {
        CrlSet::check(std::move(different), cas.bundle(), "ca", std::time(nullptr), kDay);
        FAIL() << "two different CRLs of one issuer were accepted";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "http://mirror/root.crl: is a second, different CRL of "
                                         "\"CN=Polycom Root CA\" (the first came from " + kRootCrl + ")");
    }
}

TEST(CrlSet, RefusesACrlOlderThanTheOneInstalled) {
    const PolyCas cas;
    std::vector<X509CrlPtr> installed;
    installed.push_back(make_crl(cas.root, {{{"01"}}, -kDay, 30 * kDay}));
    installed.push_back(make_crl(cas.policy, {{}, -kDay, 30 * kDay}));
    auto set_of = [&](long this_update) {
        std::vector<FetchedCrl> v;
        v.push_back(fetched(kRootCrl, make_crl(cas.root, {{}, this_update, 30 * kDay})));
        return CrlSet::check(std::move(v), cas.bundle(), "ca", std::time(nullptr), kDay);
    };
    EXPECT_NO_THROW(set_of(-3600).require_not_older_than(installed, "polycom-crl.pem"));
    EXPECT_NO_THROW(set_of(-3 * kDay).require_not_older_than({}, "polycom-crl.pem"));
    try {
        set_of(-3 * kDay).require_not_older_than(installed, "polycom-crl.pem");
        FAIL() << "an older CRL was accepted";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_TRUE(starts_with(what, kRootCrl + ": this CRL of \"CN=Polycom Root CA\" (thisUpdate "))
            << what;
        EXPECT_NE(what.find(") is older than the one in polycom-crl.pem (thisUpdate "), std::string::npos) << what;
    }
}
