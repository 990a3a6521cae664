// Every certificate a verified CRL has ever listed as revoked
// (PolyProvRevocationHistory, written by `polyprov fetch-crl --history`).
// RFC 5280 lets a CA drop an entry once the certificate has expired; under
// PolyProvAcceptExpired an expired certificate is accepted again, so the
// history keeps what the CRLs no longer say.
//
// The file, one certificate a line (the writer puts this at its top too):
//   ISSUER-SHA256 SERIAL REVOKED REASON FIRST-SEEN [ISSUER-NAME]
// ISSUER-SHA256  SHA-256 of the DER of the issuer's name, 64 hex digits
// SERIAL         the serial number in hex (a leading - when negative)
// REVOKED        the CRL's revocation date, ISO 8601 UTC (2024-03-01T12:00:00Z)
// REASON         the CRL reason code (keyCompromise, ...), "-" when it gave none
// FIRST-SEEN     when fetch-crl first saw the entry, ISO 8601 UTC
// ISSUER-NAME    the rest of the line: the issuer for readers; not compared
// Lines whose first non-blank character is # are comments; blank lines are
// ignored.
#pragma once

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <polyprov/crl_set.hpp>
#include <polyprov/openssl_ptr.hpp>

namespace polyprov {

class RevocationHistory {
public:
    struct Entry {
        std::string issuer_sha256;  // 64 upper-case hex digits
        std::string serial;         // upper-case hex, whole bytes, "-" first when negative
        std::string revoked;        // ISO 8601 UTC
        std::string reason;         // RFC 5280 name, "-", or "reason-N" for a code RFC 5280 does not name
        std::string first_seen;     // ISO 8601 UTC
        std::string issuer_name;    // may be empty
        int line = 0;               // where parse() found it; 0 when merged
    };

    // Throws Error "ORIGIN:LINE: why" for a malformed line or a certificate
    // listed twice (naming the first line too).
    static RevocationHistory parse(std::string_view text, const std::string& origin);
    // parse() of a file's content; throws Error "PATH: cannot be read: why" too.
    static RevocationHistory load_file(const std::string& path);

    // True when `cert`'s issuer and serial are listed: the issuer compared as
    // the SHA-256 of its name's DER, the serial as the exact integer. Also
    // true when the lookup cannot be made (out of memory): fail closed. Runs
    // in TLS handshakes: one hash and one hash-table probe.
    bool lists(const X509* cert) const noexcept;

    struct Merged {
        std::size_t added = 0;    // entries seen for the first time
        std::size_t updated = 0;  // entries whose revocation date or reason changed (first-seen is kept)
    };
    // Adds the entries of a CRL that CrlSet verified, stamped first seen at
    // `now`; entries already listed keep their first-seen date and take the
    // CRL's revocation date and reason. Nothing is ever removed.
    Merged merge(const CheckedCrl& crl, std::time_t now);

    // The whole file: the format comment, then one line per certificate,
    // sorted by issuer then serial, so equal histories are equal bytes.
    std::string serialize() const;

    std::size_t size() const noexcept { return entries_.size(); }

    // The lookup key of every entry (see entries_), in no order; and that of
    // `cert`, empty when it cannot be made.
    std::vector<std::string> keys() const;
    static std::string key_of(const X509* cert);

private:
    // Lookup key: the issuer name's SHA-256 (32 bytes), a sign byte, then
    // the serial's magnitude, big-endian, without leading zero bytes.
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace polyprov
