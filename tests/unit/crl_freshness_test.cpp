#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include <polyprov/crl_freshness.hpp>
#include <polyprov/error.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

constexpr long kDay = 86400;

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/polyprov-crl-test-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& content) const {
        std::ofstream(path / name, std::ios::binary) << content;
        return (path / name).string();
    }
};

std::string error_of(void (*f)(const std::string&), const std::string& arg) {
    try {
        f(arg);
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

}  // namespace

TEST(CrlFreshness, DescribesIssuerDatesAndEntries) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto crl = make_crl(root, {{{"1A"}, {"1B", 3, 1}}, -kDay, 30 * kDay});
    const std::time_t now = std::time(nullptr);
    const CrlFacts facts = describe_crl(crl.get(), "/etc/polyprov/polycom-crl.pem", now);
    EXPECT_EQ(facts.issuer, "CN=Polycom Root CA");
    EXPECT_EQ(facts.entries, 2u);
    ASSERT_TRUE(facts.seconds_left.has_value());
    EXPECT_NEAR(static_cast<double>(*facts.seconds_left), 30.0 * kDay, 5);
    EXPECT_EQ(facts.this_update.size(), 20u);
    EXPECT_EQ(facts.this_update.back(), 'Z');
    EXPECT_EQ(crl_summary(facts), "CRL of \"CN=Polycom Root CA\" (/etc/polyprov/polycom-crl.pem): "
                                  "thisUpdate " + facts.this_update + ", nextUpdate " + facts.next_update +
                                  ", 2 entries");
}

TEST(CrlFreshness, ClassifiesAgainstTheWarningThreshold) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const std::time_t now = std::time(nullptr);
    auto facts_for = [&](std::optional<long> next) {
        return describe_crl(make_crl(root, {{}, -10 * kDay, next}).get(), "x.pem", now);
    };
    const CrlFacts fresh = facts_for(10 * kDay), soon = facts_for(kDay), past = facts_for(-3600),
                   never = facts_for(std::nullopt);
    EXPECT_EQ(classify(fresh, kCrlWarnSeconds), CrlFreshness::fresh);
    EXPECT_EQ(classify(soon, kCrlWarnSeconds), CrlFreshness::expiring);
    EXPECT_EQ(classify(soon, kDay / 2), CrlFreshness::fresh);
    EXPECT_EQ(classify(past, kCrlWarnSeconds), CrlFreshness::expired);
    EXPECT_EQ(classify(never, kCrlWarnSeconds), CrlFreshness::fresh);
    EXPECT_EQ(never.next_update, "");
    EXPECT_NE(crl_summary(never).find("nextUpdate none, 0 entries"), std::string::npos);
    EXPECT_EQ(freshness_note(never, classify(never, kCrlWarnSeconds)), "no nextUpdate");
    CrlFacts exact = fresh;
    exact.seconds_left = -3600;
    EXPECT_EQ(freshness_note(exact, classify(exact, kCrlWarnSeconds)), "expired 1 hour ago");
    exact.seconds_left = kDay + 7200;
    EXPECT_EQ(freshness_note(exact, classify(exact, kCrlWarnSeconds)), "expires in 1 day 2 hours");
    exact.seconds_left = 10 * kDay;
    EXPECT_EQ(freshness_note(exact, classify(exact, kCrlWarnSeconds)), "valid for 10 days");

    // The exact moment of nextUpdate already counts as past, as OpenSSL counts it.
    CrlFacts edge = fresh;
    edge.seconds_left = 0;
    EXPECT_EQ(classify(edge, kCrlWarnSeconds), CrlFreshness::expired);
}

TEST(CrlFreshness, NamesAreEscaped) {
    const auto sly = make_ca("Root\nCA \x1b[8m", nullptr);
    const auto facts = describe_crl(make_crl(sly, {}).get(), "x", std::time(nullptr));
    EXPECT_EQ(facts.issuer, "CN=Root\\x0ACA \\x1B[8m");
}

TEST(CrlFreshness, ReadsEveryCrlOfAPemFileAndSkipsCertificates) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto policy = make_ca("Polycom Equipment Policy CA", &root);
    const std::string text = "# comment\n" + crl_to_pem(make_crl(root, {}).get()) + to_pem(policy.cert.get()) +
                             "between\n" + crl_to_pem(make_crl(policy, {{{"05"}}}).get());
    const auto crls = parse_pem_crls(text, "both.pem");
    ASSERT_EQ(crls.size(), 2u);
    TempDir dir;
    const auto facts = read_crl_file(dir.write("crl.pem", text), std::time(nullptr));
    ASSERT_EQ(facts.size(), 2u);
    EXPECT_EQ(facts[0].issuer, "CN=Polycom Root CA");
    EXPECT_EQ(facts[1].issuer, "CN=Polycom Equipment Policy CA");
    EXPECT_EQ(facts[1].entries, 1u);
    EXPECT_EQ(facts[1].origin, (dir.path / "crl.pem").string());
}

TEST(CrlFreshness, RefusesFilesThatAreNotPemCrls) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto crl = make_crl(root, {});
    auto parse_error = [](const std::string& text) {
        try {
            parse_pem_crls(text, "f.pem");
            return std::string();
        } catch (const Error& e) {
            return std::string(e.what());
        }
    };
    EXPECT_EQ(parse_error(crl_to_der(crl.get())),
              "f.pem: holds no PEM CRL (mod_ssl reads PEM; a DER CRL converts with openssl crl -inform DER)");
    EXPECT_EQ(parse_error(to_pem(root.cert.get())).rfind("f.pem: holds no PEM CRL", 0), 0u);
    std::string cut = crl_to_pem(crl.get());
    cut.erase(cut.size() - 30, 10);
    EXPECT_EQ(parse_error(to_pem(root.cert.get()) + cut), "f.pem: PEM block 2 is damaged (truncated or bad base64)");
    std::string cert_as_crl = to_pem(root.cert.get());
    for (const char* marker : {"BEGIN ", "END "}) {
        const auto at = cert_as_crl.find(std::string(marker) + "CERTIFICATE");
        cert_as_crl.replace(at, std::string(marker).size() + 11, std::string(marker) + "X509 CRL");
    }
    EXPECT_EQ(parse_error(cert_as_crl), "f.pem: PEM block 1 is not a valid X.509 CRL");

    TempDir dir;
    EXPECT_EQ(error_of([](const std::string& p) { read_crl_file(p, 0); }, (dir.path / "missing.pem").string()),
              (dir.path / "missing.pem").string() + ": cannot be read: No such file or directory");
    EXPECT_EQ(error_of([](const std::string& p) { read_crl_file(p, 0); }, dir.path.string()),
              dir.path.string() + ": cannot be read: Is a directory");
}

TEST(CrlFreshness, ReadsTheHashedFilesOfADirectoryAsOpenSslWould) {
    const auto root = make_ca("Polycom Root CA", nullptr);
    const auto policy = make_ca("Polycom Equipment Policy CA", &root);
    TempDir dir;
    dir.write("0a1b2c3d.r1", crl_to_pem(make_crl(policy, {}).get()));
    dir.write("0a1b2c3d.r0", crl_to_pem(make_crl(root, {}).get()));
    dir.write("README", "not a CRL");
    dir.write("0A1B2C3D.r0", "upper-case hex: OpenSSL never opens this");
    dir.write("0a1b2c3d.0", "a certificate's hash name");
    dir.write("0a1b2c3d.r", "no number");
    const auto facts = read_crl_directory(dir.path.string(), std::time(nullptr));
    ASSERT_EQ(facts.size(), 2u);
    EXPECT_EQ(facts[0].origin, (dir.path / "0a1b2c3d.r0").string());
    EXPECT_EQ(facts[0].issuer, "CN=Polycom Root CA");
    EXPECT_EQ(facts[1].origin, (dir.path / "0a1b2c3d.r1").string());

    dir.write("0a1b2c3d.r2", "junk");
    EXPECT_EQ(error_of([](const std::string& p) { read_crl_directory(p, 0); }, dir.path.string()),
              (dir.path / "0a1b2c3d.r2").string() +
                  ": holds no PEM CRL (mod_ssl reads PEM; a DER CRL converts with openssl crl -inform DER)");
    EXPECT_EQ(error_of([](const std::string& p) { read_crl_directory(p, 0); }, (dir.path / "nope").string()),
              (dir.path / "nope").string() + ": cannot be listed: No such file or directory");
}
