// Facts about a client certificate as mod_ssl exports it (PEM).
#pragma once

#include <array>
#include <ctime>
#include <string>
#include <string_view>

#include <polyprov/openssl_ptr.hpp>

namespace polyprov {

// Null when `pem` holds no parsable certificate.
X509Ptr parse_pem_certificate(std::string_view pem) noexcept;

// True when `now` lies past the certificate's notAfter.
bool has_expired(const X509* cert, std::time_t now) noexcept;

// The subject's last commonName, or "" when it has none.
std::string subject_common_name(const X509* cert);

// notAfter as ISO 8601 UTC ("2024-03-01T12:00:00Z"), for log lines.
std::string not_after_iso8601(const X509* cert);

}  // namespace polyprov

namespace polyprov {
// SHA-256 over the certificate's DER: what an ACL pin names.
std::array<unsigned char, 32> certificate_sha256(const X509* cert) noexcept;
}  // namespace polyprov
