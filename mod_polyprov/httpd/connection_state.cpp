// What the handshake accepted is read from the waiver's record, kept with
// the connection during a full handshake and in the TLS session for
// resumption: a resumed session runs no verification of ours, but it
// carries the record.

#include "connection_state.hpp"

#include "glue.hpp"

#include "http_ssl.h"

#include <mutex>
#include <string>

namespace polyprov::glue {
namespace {

conn_rec* tls_connection(conn_rec* c) {
    return c->master ? c->master : c;  // HTTP/2 streams run on secondary connections
}

ConnectionState* state_of(conn_rec* c) {
    return static_cast<ConnectionState*>(ap_get_module_config(tls_connection(c)->conn_config, &polyprov_module));
}

}  // namespace

ConnectionState* connection_state(request_rec* r) { return state_of(r->connection); }

const char* ssl_var(request_rec* r, const char* name) {
    const char* v = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, name);
    return (v && *v) ? v : nullptr;
}

int note_tls_connection(conn_rec* c, SSL* ssl, int is_proxy) noexcept {
    if (is_proxy || !ssl) return OK;  // backend connections are not phones
    try {
        auto* state = pool_owned(c->pool, new ConnectionState(ssl));
        ap_set_module_config(c->conn_config, &polyprov_module, state);
    } catch (...) {
        // Without state the connection carries no certificate for us: every
        // device check on it fails closed.
        ap_log_cerror(APLOG_MARK, APLOG_ERR, 0, c, PP_TAG(905) "out of memory noting a TLS connection");
    }
    return OK;
}

void record_waiver(SSL* ssl, const WaiverRecord& record) noexcept {
    try {
        // Kept in the session too, so a resumed session knows what it was
        // accepted for (the session cache and tickets both carry it).
        const std::string bytes = encode(record);
        SSL_SESSION_set1_ticket_appdata(SSL_get_session(ssl), bytes.data(), bytes.size());
        auto* c = static_cast<conn_rec*>(SSL_get_app_data(ssl));
        if (ConnectionState* state = c ? state_of(c) : nullptr) {
            std::lock_guard<std::mutex> lock(state->mutex);
            state->waiver = record;
            ++state->waivers_recorded;
        }
    } catch (...) {
        // A missing record only makes later checks stricter (unknown).
    }
}

HandshakeWaiver handshake_waiver(request_rec* r) {
    HandshakeWaiver hw;
    ConnectionState* state = state_of(r->connection);
    if (!state) return hw;
    if (const ExpiryWaiver* waiver = ExpiryWaiver::installed_on(SSL_get_SSL_CTX(state->ssl))) {
        hw.mode = waiver->mode();
        hw.anchors = waiver->anchors();
    }
    {
        std::lock_guard<std::mutex> lock(state->mutex);
        hw.record = state->waiver;
        hw.waivers_recorded = state->waivers_recorded;
    }
    if (!hw.record) {
        if (!SSL_session_reused(state->ssl) && !ExpiryWaiver::installed_on(SSL_get_SSL_CTX(state->ssl))) {
            // A full handshake on a host without a waiver waived nothing. (With
            // one, its listener records every successful verification: no
            // record there is "unknown", never "nothing".)
            hw.record = WaiverRecord{};
        } else {
            void* data = nullptr;
            std::size_t length = 0;
            if (SSL_SESSION_get0_ticket_appdata(SSL_get_session(state->ssl), &data, &length) == 1 && data)
                hw.record = decode_waiver_record(std::string_view(static_cast<const char*>(data), length));
        }
    }
    return hw;
}

bool peer_listed(request_rec* r, const RevokedSet& history, bool cas) {
    ConnectionState* state = state_of(r->connection);
    if (!state) return false;
    const X509* leaf = SSL_get0_peer_certificate(state->ssl);
    if (leaf && history.lists(leaf)) return true;
    if (!cas) return false;
    STACK_OF(X509)* chain = SSL_get0_verified_chain(state->ssl);
    if (!chain) return true;  // resumed: the chain that was verified is not known
    for (int i = 1; i + 1 < sk_X509_num(chain); ++i)   // below the leaf, above the anchor
        if (history.lists(sk_X509_value(chain, i))) return true;
    return false;
}

}  // namespace polyprov::glue
