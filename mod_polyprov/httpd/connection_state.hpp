// What the TLS layer established about a connection's client, read from
// mod_ssl's SSL object once per certificate rather than through SSL
// variables on every request (SSL_CLIENT_CERT PEM-encodes the certificate
// on each lookup).
#pragma once

#include "httpd.h"

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <openssl/ssl.h>

#include <polyprov/mac.hpp>
#include <polyprov/mac_pattern.hpp>
#include <polyprov/revocation_history.hpp>
#include <polyprov/sha256.hpp>
#include <polyprov/waiver_record.hpp>

namespace polyprov::glue {

// One client certificate as the connection presents it now.
class CertificateFacts {
public:
    explicit CertificateFacts(X509* cert);   // holds a reference to `cert`
    ~CertificateFacts();
    CertificateFacts(const CertificateFacts&) = delete;
    CertificateFacts& operator=(const CertificateFacts&) = delete;

    // SHA-256 of the DER, worked out on first use (only a pin needs it),
    // once for all the connection's requests and streams.
    const std::optional<Sha256>& fingerprint() const;
    const X509* certificate() const noexcept { return cert_; }

    std::optional<std::string> cn;          // single_common_name: null when it names no one
    std::optional<std::time_t> not_after;   // null when unreadable (treated as expired)
    std::string not_after_text;             // ISO 8601, for logs and the fleet view
    bool verified = false;                  // SSL_CLIENT_VERIFY said SUCCESS
    std::uint64_t serial = 0;               // which certificate of the connection (renegotiation counts up)

    bool expired_at(std::time_t now) const noexcept { return !not_after || *not_after < now; }

private:
    X509* cert_;
    mutable std::once_flag digested_;
    mutable std::optional<Sha256> fingerprint_;
};

// What the handshake's expiry waiver accepted, as far as it is known.
struct HandshakeWaiver {
    std::optional<WaiverRecord> record;     // null: resumed from a session that kept none
    ExpiryMode mode = ExpiryMode::off;      // the handshake's own virtual host
    const TrustAnchors* anchors = nullptr;
};

// The facts for the request's connection (the TLS connection under HTTP/2),
// or null when it carries no client certificate. Recomputed when the
// certificate changes (renegotiation); shared safely between the streams
// of one HTTP/2 connection. The request holds what it saw until it ends,
// so its later looks at an unchanged certificate take no lock.
std::shared_ptr<const CertificateFacts> certificate_facts(request_rec* r);

// The claimed MAC of the connection's certificate under `pattern`,
// remembered per connection (the pattern is a regex; phones send many
// requests over one connection).
std::optional<Mac> remembered_claim(request_rec* r, const CertificateFacts& facts, const MacPattern& pattern);

HandshakeWaiver handshake_waiver(request_rec* r);

// Per connection, what request_identity.cpp last derived for each of its
// two callers (the early hook, the access check), so that the requests of
// one keep-alive connection authenticate once rather than each. Opaque
// here; dropped with the certificate it was derived from. Null when none.
enum class IdentitySlot { early, access };
std::shared_ptr<const void> remembered_identity(request_rec* r, IdentitySlot slot);
void remember_identity(request_rec* r, IdentitySlot slot, std::shared_ptr<const void> value);

// Whether `history` lists a certificate whose expiry the handshake may have
// waived: the client certificate, and with `cas` the CAs of the verified
// chain below the anchor. True (fail closed) when a CA must be checked and
// the chain is not known (a resumed session).
bool peer_listed(request_rec* r, const RevocationHistory& history, bool cas);

// mod_ssl's pre_handshake hook: remembers the SSL object of each client connection.
int note_tls_connection(conn_rec* c, SSL* ssl, int is_proxy) noexcept;

// Called from the waiver's listener during a full handshake.
void record_waiver(SSL* ssl, const WaiverRecord& record) noexcept;

// An SSL variable of the request's connection, or null when empty.
const char* ssl_var(request_rec* r, const char* name);

}  // namespace polyprov::glue
