// Facts about a client certificate: its dates, its names, its digest.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include <polyprov/openssl_ptr.hpp>
#include <polyprov/sha256.hpp>

namespace polyprov {

// Null when `pem` holds no parsable certificate.
X509Ptr parse_pem_certificate(std::string_view pem) noexcept;

// True when `now` lies past the certificate's notAfter.
bool has_expired(const X509* cert, std::time_t now) noexcept;

// notAfter as seconds since the epoch; null when the date is unreadable.
std::optional<std::time_t> not_after(const X509* cert) noexcept;

// The subject's last commonName, or "" when it has none: for showing a
// CA's name. Never use it to decide who a client is (single_common_name).
std::string subject_common_name(const X509* cert);

// The one identity a certificate's subject names, as UTF-8. Null unless the
// subject holds exactly one commonName, that name is valid in the string
// type it declares, and it holds no control character (NUL included): a
// certificate that can be read as two names (mod_ssl's SSL_CLIENT_S_DN_CN
// shows the first CN, a NUL cuts C strings short) names nobody.
std::optional<std::string> single_common_name(const X509* cert);

// notAfter as ISO 8601 UTC ("2024-03-01T12:00:00Z"), for log lines.
std::string not_after_iso8601(const X509* cert);

// SHA-256 over the certificate's DER: what an ACL pin names. Null when the
// digest cannot be computed (never a made-up value that a pin could match).
std::optional<Sha256> certificate_sha256(const X509* cert) noexcept;

}  // namespace polyprov
