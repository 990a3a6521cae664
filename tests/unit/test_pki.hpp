// Small certificate chains for unit tests: EC P-256 keys (fast), dates
// relative to now, names and faults chosen per test.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <polyprov/openssl_ptr.hpp>

namespace polyprov::testing {

using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;

struct Validity {
    long from_days;  // relative to now; negative is the past
    long to_days;
};
inline constexpr Validity kValid{-365, 3650};
inline constexpr Validity kExpired{-3000, -300};
inline constexpr Validity kNotYetValid{300, 3000};

struct Credential {
    X509Ptr cert;
    KeyPtr key;
};

KeyPtr new_key();
// A CA certificate named and extended like Poly's (a CN alone); self-signed
// when `issuer` is null. A non-empty `crl_url` becomes the CRL distribution
// point of a CA below the root (Poly's root has none); without `crl_sign`
// its key usage does not allow signing CRLs.
Credential make_ca(const std::string& cn, const Credential* issuer, Validity validity = kValid,
                   const std::string& crl_url = "", bool crl_sign = true);
Credential make_leaf(const std::string& cn, const Credential& issuer, Validity validity = kValid);
// The same certificate with one bit of its signature flipped.
X509Ptr with_bad_signature(const X509* cert);
std::string to_pem(const X509* cert);
std::string key_to_pem(const EVP_PKEY* key);

struct Revocation {
    std::string serial_hex;  // as BN_hex2bn reads it: "1A", "-5"
    long days_ago = 2;       // revocation date
    int reason = -1;         // RFC 5280 CRLReason; -1: no reason code
};
struct CrlSpec {
    std::vector<Revocation> revoked = {};
    long this_update = -86400;                    // seconds from now
    std::optional<long> next_update = 30 * 86400; // seconds from now; nullopt: none
    bool delta = false;                           // a deltaCRLIndicator
    bool unknown_critical = false;                // a critical extension OpenSSL does not know
    bool indirect = false;                        // an issuing distribution point saying indirectCRL
};
// A v2 CRL signed by `issuer`.
X509CrlPtr make_crl(const Credential& issuer, const CrlSpec& spec);
std::string crl_to_pem(const X509_CRL* crl);
std::string crl_to_der(const X509_CRL* crl);
// A certificate's serial number as BN_bn2hex prints it.
std::string serial_of(const X509* cert);

}  // namespace polyprov::testing
