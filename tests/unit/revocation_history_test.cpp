#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <vector>

#include <openssl/x509.h>

#include <polyprov/crl_set.hpp>
#include <polyprov/error.hpp>
#include <polyprov/revocation_history.hpp>

#include "test_pki.hpp"

using namespace polyprov;
using namespace polyprov::testing;

namespace {

constexpr long kDay = 86400;
const std::string kIssuerSha = std::string(64, 'A');

struct Cas {
    Credential root = make_ca("Polycom Root CA", nullptr);
    Credential issuing = make_ca("Polycom Equipment Issuing CA 1", &root);
    Credential other = make_ca("Polycom Equipment Issuing CA 2", &root);

    std::vector<X509Ptr> bundle() const {
        std::vector<X509Ptr> out;
        for (const Credential* c : {&root, &issuing, &other}) {
            X509_up_ref(c->cert.get());
            out.emplace_back(c->cert.get());
        }
        return out;
    }
    CrlSet verified(const Credential& issuer, const CrlSpec& spec) const {
        std::vector<FetchedCrl> v;
        v.push_back({"http://127.0.0.1/crl", make_crl(issuer, spec)});
        return CrlSet::check(std::move(v), bundle(), "ca.pem", std::time(nullptr), kDay);
    }
};

X509Ptr with_serial(const X509* cert, long serial) {
    X509Ptr copy(X509_dup(const_cast<X509*>(cert)));
    ASN1_INTEGER_set(X509_get_serialNumber(copy.get()), serial);
    return copy;
}

std::string parse_error(const std::string& text) {
    try {
        RevocationHistory::parse(text, "history");
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

std::string body_of(const std::string& serialized) {
    std::string out;
    std::size_t at = 0;
    while (at < serialized.size()) {
        const std::size_t eol = serialized.find('\n', at);
        const std::string line = serialized.substr(at, eol - at);
        if (line.rfind("#", 0) != 0) out += line + "\n";
        at = eol + 1;
    }
    return out;
}

}  // namespace

TEST(RevocationHistory, ListsWhatAVerifiedCrlRevokedAndKeepsItWhenTheCaDropsIt) {
    const Cas cas;
    const auto phone = make_leaf("0004F2000007", cas.issuing, kExpired);
    const auto other_phone = make_leaf("0004F2000001", cas.issuing);
    RevocationHistory history;
    EXPECT_FALSE(history.lists(phone.cert.get()));

    const auto first = cas.verified(cas.issuing, {{{serial_of(phone.cert.get()), 400, 1}}});
    const auto merged = history.merge(first.crls()[0], std::time(nullptr) - 10 * kDay);
    EXPECT_EQ(merged.added, 1u);
    EXPECT_TRUE(history.lists(phone.cert.get()));
    EXPECT_FALSE(history.lists(other_phone.cert.get()));
    const std::string before = history.serialize();

    // A newer CRL without the entry: the CA dropped the expired certificate.
    const auto newer = cas.verified(cas.issuing, {{{serial_of(other_phone.cert.get())}}, -3600, 30 * kDay});
    const auto again = history.merge(newer.crls()[0], std::time(nullptr));
    EXPECT_EQ(again.added, 1u);
    EXPECT_EQ(again.updated, 0u);
    EXPECT_TRUE(history.lists(phone.cert.get()));
    EXPECT_TRUE(history.lists(other_phone.cert.get()));
    EXPECT_EQ(history.size(), 2u);
    // The first entry's line is unchanged, first-seen included.
    const std::string first_line = body_of(before);
    EXPECT_NE(history.serialize().find(first_line), std::string::npos);
}

TEST(RevocationHistory, ComparesIssuerAndTheExactSerial) {
    const Cas cas;
    const auto phone = make_leaf("0004F2000007", cas.issuing);
    RevocationHistory history;
    history.merge(cas.verified(cas.issuing, {{{"0100"}, {"-5"}, {"00A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3"}}}).crls()[0],
                  std::time(nullptr));
    EXPECT_TRUE(history.lists(with_serial(phone.cert.get(), 0x100).get()));
    EXPECT_FALSE(history.lists(with_serial(phone.cert.get(), 0x1).get()));
    EXPECT_FALSE(history.lists(with_serial(phone.cert.get(), 0x10000).get()));
    EXPECT_TRUE(history.lists(with_serial(phone.cert.get(), -5).get()));
    EXPECT_FALSE(history.lists(with_serial(phone.cert.get(), 5).get()));
    // The same serial from another issuer is another certificate.
    const auto stranger = make_leaf("0004F2000007", cas.other);
    EXPECT_FALSE(history.lists(with_serial(stranger.cert.get(), 0x100).get()));

    X509Ptr big(X509_dup(phone.cert.get()));
    BIGNUM* bn = nullptr;
    BN_hex2bn(&bn, "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3");
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(big.get()));
    BN_free(bn);
    EXPECT_TRUE(history.lists(big.get()));

    const std::string text = history.serialize();
    EXPECT_NE(text.find(" -05 "), std::string::npos) << text;
    EXPECT_NE(text.find(" 0100 "), std::string::npos) << text;
    EXPECT_NE(text.find(" A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3 "), std::string::npos) << text;
}

TEST(RevocationHistory, MergeKeepsFirstSeenAndTakesTheCasLatestWord) {
    const Cas cas;
    RevocationHistory history;
    const std::time_t then = std::time(nullptr) - 30 * kDay;
    history.merge(cas.verified(cas.issuing, {{{"07", 40, 6}}}).crls()[0], then);  // certificateHold
    const std::string held = history.serialize();
    EXPECT_NE(held.find(" certificateHold "), std::string::npos) << held;
    const auto merged = history.merge(cas.verified(cas.issuing, {{{"07", 40, 1}}}).crls()[0], std::time(nullptr));
    EXPECT_EQ(merged.added, 0u);
    EXPECT_EQ(merged.updated, 1u);
    const std::string now = history.serialize();
    EXPECT_NE(now.find(" keyCompromise "), std::string::npos) << now;
    // first-seen is the earlier date.
    const auto line_start = now.find(" keyCompromise ") + std::string(" keyCompromise ").size();
    const auto held_at = held.find(" certificateHold ") + std::string(" certificateHold ").size();
    EXPECT_EQ(now.substr(line_start, 20), held.substr(held_at, 20));
    EXPECT_EQ(history.merge(cas.verified(cas.issuing, {{{"07", 40, 1}}}).crls()[0], std::time(nullptr)).updated, 0u);
}

TEST(RevocationHistory, SerializationIsDeterministicAndParsesBack) {
    const Cas cas;
    RevocationHistory a, b;
    const auto one = cas.verified(cas.issuing, {{{"0A"}, {"01FF", 3, 4}, {"02"}}});
    const auto two = cas.verified(cas.other, {{{"0A", 9, 5}}});
    const std::time_t t = 1700000000;
    a.merge(one.crls()[0], t);
    a.merge(two.crls()[0], t);
    b.merge(two.crls()[0], t);
    b.merge(one.crls()[0], t);
    EXPECT_EQ(a.serialize(), b.serialize());

    const std::string text = a.serialize();
    EXPECT_EQ(text.rfind("# polyprov revocation history (PolyProvRevocationHistory)", 0), 0u);
    const auto back = RevocationHistory::parse(text, "history");
    EXPECT_EQ(back.size(), 4u);
    EXPECT_EQ(back.serialize(), text);
    // Serials ascend as numbers within an issuer: 02, 0A, 01FF.
    const std::string body = body_of(text);
    std::vector<std::string> serials;
    for (std::size_t at = 0; at < body.size(); at = body.find('\n', at) + 1) {
        const std::string line = body.substr(at, body.find('\n', at) - at);
        if (line.find("CN=Polycom Equipment Issuing CA 1") != std::string::npos)
            serials.push_back(line.substr(65, line.find(' ', 65) - 65));
    }
    EXPECT_EQ(serials, (std::vector<std::string>{"02", "0A", "01FF"}));
    EXPECT_NE(body.find(" 2023-11-14T22:13:20Z CN=Polycom Equipment Issuing CA 1\n"), std::string::npos)
        << body;
    EXPECT_NE(body.find(" superseded "), std::string::npos);
    EXPECT_NE(body.find(" - "), std::string::npos);
}

TEST(RevocationHistory, ParsesCommentsBlankLinesAndHandWrittenForms) {
    const std::string text = "# header\n\n   # indented comment\r\n" + kIssuerSha +
                             " 0a 2024-03-01T12:00:00Z keyCompromise 2024-03-02T00:00:00Z  O=Example, CN=Issuing  \r\n" +
                             std::string(64, 'b') + "\t-1\t2024-02-29T00:00:00Z\treason-7\t2024-03-02T00:00:00Z\n";
    const auto h = RevocationHistory::parse(text, "history");
    EXPECT_EQ(h.size(), 2u);
    const std::string out = h.serialize();
    EXPECT_NE(out.find(kIssuerSha + " 0A 2024-03-01T12:00:00Z keyCompromise 2024-03-02T00:00:00Z O=Example, CN=Issuing\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find(std::string(64, 'B') + " -01 2024-02-29T00:00:00Z reason-7 2024-03-02T00:00:00Z\n"),
              std::string::npos)
        << out;
}

TEST(RevocationHistory, ErrorsNameFileLineAndReason) {
    const std::string good_tail = " 2024-03-01T12:00:00Z - 2024-03-02T00:00:00Z";
    EXPECT_EQ(parse_error("\n" + kIssuerSha + " 0A 2024-03-01T12:00:00Z"),
              "history:2: expected ISSUER-SHA256 SERIAL REVOKED REASON FIRST-SEEN, found 3 fields");
    EXPECT_EQ(parse_error("ABCD 0A" + good_tail), "history:1: 'ABCD' is not an issuer SHA-256 (64 hex digits)");
    EXPECT_EQ(parse_error(kIssuerSha + " 0G" + good_tail),
              "history:1: '0G' is not a serial number (hex digits, at most 64 bytes)");
    EXPECT_EQ(parse_error(kIssuerSha + " " + std::string(129, '1') + good_tail).rfind("history:1: '111", 0), 0u);
    EXPECT_EQ(parse_error(kIssuerSha + " - " + good_tail.substr(1)),
              "history:1: '-' is not a serial number (hex digits, at most 64 bytes)");
    EXPECT_EQ(parse_error(kIssuerSha + " 0A 2024-02-30T12:00:00Z - 2024-03-02T00:00:00Z"),
              "history:1: '2024-02-30T12:00:00Z' is not a date (YYYY-MM-DDTHH:MM:SSZ, UTC)");
    EXPECT_EQ(parse_error(kIssuerSha + " 0A 2024-03-01 - 2024-03-02T00:00:00Z"),
              "history:1: '2024-03-01' is not a date (YYYY-MM-DDTHH:MM:SSZ, UTC)");
    EXPECT_EQ(parse_error(kIssuerSha + " 0A 2024-03-01T12:00:00Z - 2024-03-02T00:00:00+01:00"),
              "history:1: '2024-03-02T00:00:00+01:00' is not a date (YYYY-MM-DDTHH:MM:SSZ, UTC)");
    EXPECT_EQ(parse_error(kIssuerSha + " 0A 2024-03-01T12:00:00Z stolen 2024-03-02T00:00:00Z"),
              "history:1: 'stolen' is not a CRL reason (keyCompromise, superseded, ..., reason-N, or -)");
    EXPECT_EQ(parse_error(kIssuerSha + " 0A" + good_tail + " bad\x01name"),
              "history:1: the issuer name holds control characters");
    EXPECT_EQ(parse_error(kIssuerSha + " 0A" + good_tail + "\n# again, other notation\n" + kIssuerSha + " 000a" +
                          good_tail),
              "history:3: serial 0A of issuer AAAAAAAAAAAAAAAA... is listed twice (first on line 1)");
}

TEST(RevocationHistory, LoadFileNamesAFileItCannotRead) {
    try {
        RevocationHistory::load_file("/nonexistent/history");
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "/nonexistent/history: cannot be read: No such file or directory");
    }
}
