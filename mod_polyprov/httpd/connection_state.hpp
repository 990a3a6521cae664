// One TLS connection from a client, as mod_ssl hands it over: its SSL
// object, and what the handshake's expiry waiver accepted. Who is on the
// connection (its certificate's facts, the device they authenticate) is
// connection_identity.hpp's, kept here on the connection's behalf.
#pragma once

#include "httpd.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include <openssl/ssl.h>

#include <polyprov/expiry_waiver.hpp>
#include <polyprov/revoked_set.hpp>
#include <polyprov/trust_anchors.hpp>
#include <polyprov/waiver_record.hpp>

namespace polyprov::glue {

class CertificateFacts;   // connection_identity.hpp

// One per TLS connection, on the connection's pool. HTTP/2 runs the
// streams of one connection on several threads at once: all fields after
// `ssl` are read and written under `mutex`.
struct ConnectionState {
    SSL* ssl;
    std::mutex mutex;
    std::optional<WaiverRecord> waiver;   // set during a full handshake
    std::uint64_t waivers_recorded = 0;   // how many times it was set
    // connection_identity.cpp's: the current certificate's facts (they
    // hold a reference to it), how many certificates the connection has
    // shown, and what was derived from the current one.
    std::shared_ptr<const CertificateFacts> facts;
    std::uint64_t certificates_seen = 0;
    std::shared_ptr<const void> derived[3];
    // waiver_scope.cpp's: the last 421 check that passed without a
    // revocation history to consult, and what it found, so that the next
    // request on the same terms is not checked again.
    struct ScopePass {
        std::uint64_t serial = 0;              // the certificate's (CertificateFacts::serial); 0: none
        std::uint64_t waivers_recorded = 0;    // the handshake's record it read (a new one misses)
        const server_rec* server = nullptr;    // the request's virtual host
        bool leaf_expired = false;             // the leaf's expiry when it was checked
        bool cert_expired = false, waived = false;
    } scope_pass;

    explicit ConnectionState(SSL* s) : ssl(s) {}
};

// The state of the request's connection (the TLS connection under HTTP/2),
// or null when it is not a TLS connection from a client.
ConnectionState* connection_state(request_rec* r);

// What the handshake's expiry waiver accepted, as far as it is known.
struct HandshakeWaiver {
    std::optional<WaiverRecord> record;     // null: resumed from a session that kept none
    ExpiryMode mode = ExpiryMode::off;      // the handshake's own virtual host
    const TrustAnchors* anchors = nullptr;
    std::uint64_t waivers_recorded = 0;     // ConnectionState::waivers_recorded when `record` was read
};
HandshakeWaiver handshake_waiver(request_rec* r);

// Whether `history` lists a certificate whose expiry the handshake may have
// waived: the client certificate, and with `cas` the CAs of the verified
// chain below the anchor. True (fail closed) when a CA must be checked and
// the chain is not known (a resumed session).
bool peer_listed(request_rec* r, const RevokedSet& history, bool cas);

// mod_ssl's pre_handshake hook: remembers the SSL object of each client connection.
int note_tls_connection(conn_rec* c, SSL* ssl, int is_proxy) noexcept;

// Called from the waiver's listener during a full handshake.
void record_waiver(SSL* ssl, const WaiverRecord& record) noexcept;

// An SSL variable of the request's connection, or null when empty.
const char* ssl_var(request_rec* r, const char* name);

}  // namespace polyprov::glue
