// Small certificate chains for unit tests: EC P-256 keys (fast), dates
// relative to now, names and faults chosen per test.
#pragma once

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
// A CA certificate; self-signed when `issuer` is null.
Credential make_ca(const std::string& cn, const Credential* issuer, Validity validity = kValid);
Credential make_leaf(const std::string& cn, const Credential& issuer, Validity validity = kValid);
// The same certificate with one bit of its signature flipped.
X509Ptr with_bad_signature(const X509* cert);
std::string to_pem(const X509* cert);
std::string key_to_pem(const EVP_PKEY* key);

}  // namespace polyprov::testing
