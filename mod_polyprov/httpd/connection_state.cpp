// Client certificate facts are derived from the certificate itself and the
// waiver's record in the TLS session rather than from the handshake alone:
// a resumed session runs no verification of ours, but it carries both.

#include "connection_state.hpp"

#include "glue.hpp"
#include "request_note.hpp"

#include "http_ssl.h"

#include <cstring>
#include <mutex>
#include <new>

#include <polyprov/authentication.hpp>
#include <polyprov/client_cert.hpp>

namespace polyprov::glue {
namespace {

struct Claim {
    const CertificateFacts* facts = nullptr;
    const MacPattern* pattern = nullptr;
    std::optional<Mac> mac;
};

// One per TLS connection, on the connection's pool. HTTP/2 runs the
// streams of one connection on several threads at once: all fields after
// `ssl` are read and written under `mutex`.
struct ConnectionState {
    SSL* ssl;
    std::mutex mutex;
    std::shared_ptr<const CertificateFacts> facts;   // of the current certificate (they hold a reference to it)
    std::uint64_t certificates_seen = 0;
    std::optional<WaiverRecord> waiver;          // set during a full handshake
    Claim claim;
    std::shared_ptr<const void> identities[2];   // by IdentitySlot; for the current certificate

    explicit ConnectionState(SSL* s) : ssl(s) {}
};

conn_rec* tls_connection(conn_rec* c) {
    return c->master ? c->master : c;  // HTTP/2 streams run on secondary connections
}

ConnectionState* state_of(conn_rec* c) {
    return static_cast<ConnectionState*>(ap_get_module_config(tls_connection(c)->conn_config, &polyprov_module));
}

std::shared_ptr<CertificateFacts> read_facts(request_rec* r, X509* cert) {
    auto facts = std::make_shared<CertificateFacts>(cert);
    facts->cn = single_common_name(cert);
    facts->not_after = not_after(cert);
    facts->not_after_text = not_after_iso8601(cert);
    const char* verify = ssl_var(r, "SSL_CLIENT_VERIFY");
    facts->verified = verify && std::strcmp(verify, "SUCCESS") == 0;
    return facts;
}

}  // namespace

CertificateFacts::CertificateFacts(X509* cert) : cert_(cert) { X509_up_ref(cert_); }

CertificateFacts::~CertificateFacts() { X509_free(cert_); }

const std::optional<Sha256>& CertificateFacts::fingerprint() const {
    std::call_once(digested_, [this] { fingerprint_ = certificate_sha256(cert_); });
    return fingerprint_;
}

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
        }
    } catch (...) {
        // A missing record only makes later checks stricter (unknown).
    }
}

struct HeldFacts {
    std::shared_ptr<const CertificateFacts> facts;
};

namespace {

// The connection's facts for `cert`, made anew when it is not the
// certificate they were made for (renegotiation).
std::shared_ptr<const CertificateFacts> connection_facts(request_rec* r, ConnectionState& state, X509* cert) {
    std::lock_guard<std::mutex> lock(state.mutex);
    // The facts hold a reference to their certificate, so no later
    // certificate can take its address: the pointer comparison is sound.
    if (!state.facts || state.facts->certificate() != cert) {
        // Read in full before anything changes: if reading fails, the
        // connection is left as it was and the request fails closed.
        auto facts = read_facts(r, cert);
        facts->serial = state.certificates_seen + 1;
        state.claim = Claim{};
        for (auto& identity : state.identities) identity.reset();
        state.facts = std::move(facts);
        ++state.certificates_seen;
    }
    return state.facts;
}

apr_status_t release_held_facts(void* held) {
    static_cast<HeldFacts*>(held)->~HeldFacts();
    return APR_SUCCESS;
}

void hold_for_request(request_rec* r, RequestNote& note, const std::shared_ptr<const CertificateFacts>& facts) {
    if (!note.held_facts) {
        note.held_facts = new (apr_palloc(r->pool, sizeof(HeldFacts))) HeldFacts{};
        apr_pool_cleanup_register(r->pool, note.held_facts, release_held_facts, apr_pool_cleanup_null);
    }
    note.held_facts->facts = facts;
}

}  // namespace

std::shared_ptr<const CertificateFacts> certificate_facts(request_rec* r) {
    ConnectionState* state = state_of(r->connection);
    if (!state) return nullptr;
    X509* cert = SSL_get0_peer_certificate(state->ssl);
    if (!cert) return nullptr;
    // The facts hold a reference to their certificate, so while the request
    // holds them no other certificate can take that address.
    RequestNote& note = request_note(r);
    if (note.held_facts && note.held_facts->facts && note.held_facts->facts->certificate() == cert)
        return note.held_facts->facts;
    std::shared_ptr<const CertificateFacts> facts = connection_facts(r, *state, cert);
    if (facts) hold_for_request(r, note, facts);
    return facts;
}

std::optional<Mac> remembered_claim(request_rec* r, const CertificateFacts& facts, const MacPattern& pattern) {
    ConnectionState* state = state_of(r->connection);
    if (state) {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (state->claim.facts == &facts && state->claim.pattern == &pattern) return state->claim.mac;
    }
    const std::optional<Mac> mac = claimed_mac(facts.cn, pattern);
    if (state) {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (state->facts.get() == &facts) state->claim = Claim{&facts, &pattern, mac};
    }
    return mac;
}

std::shared_ptr<const void> remembered_identity(request_rec* r, IdentitySlot slot) {
    ConnectionState* state = state_of(r->connection);
    if (!state) return nullptr;
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->identities[static_cast<int>(slot)];
}

void remember_identity(request_rec* r, IdentitySlot slot, std::shared_ptr<const void> value) {
    ConnectionState* state = state_of(r->connection);
    if (!state) return;
    std::lock_guard<std::mutex> lock(state->mutex);
    state->identities[static_cast<int>(slot)] = std::move(value);
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

bool peer_listed(request_rec* r, const RevocationHistory& history, bool cas) {
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
