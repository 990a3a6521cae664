// How long the CRLs mod_ssl checks against stay usable. Past a CRL's
// nextUpdate, mod_ssl (SSLCARevocationCheck) refuses every client
// certificate that CRL covers: a forgotten refresh locks out the fleet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/openssl_ptr.hpp>

namespace polyprov {

// Warn when a CRL has less than this left: the module at start-up and
// graceful restart, and `polyprov check-crl` unless --warn says otherwise.
inline constexpr std::int64_t kCrlWarnSeconds = 3 * 86400;

struct CrlFacts {
    std::string origin;       // the file it was read from, or the URL it was fetched from
    std::string issuer;       // the issuer's name, one line, escaped as printable() does
    std::string this_update;  // ISO 8601 UTC
    std::string next_update;  // ISO 8601 UTC, "" when the CRL has none (it then never expires)
    std::optional<std::int64_t> seconds_left;  // until nextUpdate, counted from `now`; <= 0: past
    std::size_t entries = 0;
};

CrlFacts describe_crl(const X509_CRL* crl, std::string origin, std::time_t now);

// The CRLs in PEM text, in order. Other PEM blocks (certificates, which
// mod_ssl also reads from these files) are skipped. Throws Error naming
// `origin` when a block is damaged, a CRL block does not decode, or there
// is no CRL at all (DER included: mod_ssl reads only PEM).
std::vector<X509CrlPtr> parse_pem_crls(std::string_view text, const std::string& origin);

// SSLCARevocationFile: every CRL in one PEM file. Throws Error naming the
// path when it cannot be read or holds no CRL.
std::vector<CrlFacts> read_crl_file(const std::string& path, std::time_t now);

// SSLCARevocationPath: the files OpenSSL's hashed-directory lookup reads
// (HHHHHHHH.rN, as `openssl rehash` names them), in name order; other
// files are not looked at, as OpenSSL does not. Throws Error naming the
// file at fault or the directory when it cannot be listed.
std::vector<CrlFacts> read_crl_directory(const std::string& path, std::time_t now);

enum class CrlFreshness { fresh, expiring, expired };

// expired once nextUpdate is reached (OpenSSL's own comparison), expiring
// when less than `warn_seconds` is left; a CRL without nextUpdate is fresh.
CrlFreshness classify(const CrlFacts& facts, std::int64_t warn_seconds) noexcept;

// `CRL of "ISSUER" (ORIGIN): thisUpdate T, nextUpdate N, K entries`: what
// the module logs and check-crl prints for each CRL.
std::string crl_summary(const CrlFacts& facts);
// "valid for 29 days 23 hours", "expires in 1 day 2 hours", "expired 3 hours ago", "no nextUpdate".
std::string freshness_note(const CrlFacts& facts, CrlFreshness state);

// ISO 8601 UTC ("2024-03-01T12:00:00Z"); "(unreadable date)" when it is not a date.
std::string asn1_time_iso8601(const ASN1_TIME* time);
// "CN=Polycom Root CA", escaped as printable() does.
std::string name_oneline(const X509_NAME* name);

}  // namespace polyprov
