// The CRLs a provisioning vhost checks phones against (SSLCARevocationFile),
// fetched from where the CA certificates say and checked before use: a CRL
// that mod_ssl would refuse at a handshake (bad signature, not yet valid,
// expired) refuses every phone it covers, so it must never be installed.
// Fetching is the caller's business.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/openssl_ptr.hpp>

namespace polyprov {

// One URL a CA bundle names in its certificates' CRL distribution points,
// with the issuers whose CRL it must hold: a distribution point in a
// certificate names where the CRL that covers that certificate is, so the
// CRL there is signed by that certificate's issuer.
struct CrlSource {
    std::string url;
    std::vector<X509NamePtr> expected_issuers;  // empty: any CA in the bundle
    std::string named_by;                       // the certificates that name it, for messages
};

// The http:// and https:// URIs in the CRL distribution points of `cas`,
// in bundle order, each once (other URI schemes, LDAP above all, are not
// ours to fetch).
std::vector<CrlSource> crl_sources(const std::vector<X509Ptr>& cas);

// One CRL, DER (as CAs publish them) or a single PEM block. Throws Error
// naming `origin` when the bytes are neither, or hold more than one CRL.
X509CrlPtr decode_crl(std::string_view bytes, const std::string& origin);

struct FetchedCrl {
    std::string origin;  // the URL, for messages and the output's comments
    X509CrlPtr crl;
    std::vector<X509NamePtr> expected_issuers = {};  // as CrlSource says; empty: any CA in the bundle
};

class CrlSet;

// A CRL whose signature verified with a CA of the bundle. Only CrlSet makes
// them, so whatever takes one (the revocation history) takes checked data.
class CheckedCrl {
public:
    const std::string& origin() const noexcept { return origin_; }
    const X509_CRL* crl() const noexcept { return crl_.get(); }
    const X509* issuer() const noexcept { return issuer_.get(); }

private:
    friend class CrlSet;
    CheckedCrl(std::string origin, X509CrlPtr crl, X509Ptr issuer)
        : origin_(std::move(origin)), crl_(std::move(crl)), issuer_(std::move(issuer)) {}
    std::string origin_;
    X509CrlPtr crl_;
    X509Ptr issuer_;
};

class CrlSet {
public:
    // Throws Error naming the CRL's origin unless every CRL: is issued by a
    // CA certificate in `cas` (by name) whose key verifies its signature and
    // whose key usage allows signing CRLs; is issued by one of its expected
    // issuers; is a complete, direct CRL (no delta, no entries for other
    // issuers) with no critical extension OpenSSL would refuse; has a
    // thisUpdate not after `now` and a nextUpdate (when it has one) at least
    // `min_valid_seconds` after `now`. Two different CRLs from one issuer
    // are refused too (OpenSSL would pick one); an identical copy is dropped.
    // `ca_origin` names the bundle in messages.
    static CrlSet check(std::vector<FetchedCrl> fetched, const std::vector<X509Ptr>& cas, const std::string& ca_origin,
                        std::time_t now, std::int64_t min_valid_seconds);

    const std::vector<CheckedCrl>& crls() const noexcept { return crls_; }

    // Throws Error when one of these CRLs is older (thisUpdate) than the
    // CRL of the same issuer in `previous` (what the output file holds now):
    // an old CRL replayed over plain HTTP would hide newer revocations.
    void require_not_older_than(const std::vector<X509CrlPtr>& previous, const std::string& previous_origin) const;

    // SSLCARevocationFile: each CRL in PEM after a comment line saying what
    // it is and where it came from. Depends on the CRLs and their URLs only,
    // so an unchanged set renders byte for byte the same.
    std::string pem() const;

private:
    std::vector<CheckedCrl> crls_;
};

}  // namespace polyprov
