// Times as the fleet view writes and reads them: ISO 8601 UTC in JSON and on
// the page, and the date form mod_ssl gives certificates (SSL_CLIENT_V_END).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace polyprov {

// Seconds since 1970-01-01T00:00:00Z.
using UnixTime = std::int64_t;

// "2024-03-01T12:00:00Z".
std::string iso8601(UnixTime t);

// Exactly the form iso8601() writes (the fleet JSON's times); nullopt for
// anything else, an impossible date included.
std::optional<UnixTime> parse_iso8601(std::string_view text) noexcept;

// OpenSSL's printed ASN.1 time, as mod_ssl exports notBefore/notAfter:
// "Mar  1 12:00:00 2024 GMT" (day padded with a space or not).
std::optional<UnixTime> parse_openssl_date(std::string_view text) noexcept;

}  // namespace polyprov
