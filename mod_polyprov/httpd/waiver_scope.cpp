#include "waiver_scope.hpp"

#include "connection_identity.hpp"
#include "connection_state.hpp"
#include "glue.hpp"
#include "request_note.hpp"
#include "server_config.hpp"
#include "shared_files.hpp"

namespace polyprov::glue {
namespace {

bool covered_here(const ServerConfig* here, const HandshakeWaiver& hw, bool leaf_expired) {
    if (hw.record) return waiver_covers(here->accept_expired, here->anchors, *hw.record);
    return waiver_covers_unknown(here->accept_expired, here->anchors, hw.mode, hw.anchors, leaf_expired);
}

// What the handshake may have waived, when nothing else is known: what
// its host could waive.
bool maybe_waived_leaf(const HandshakeWaiver& hw, bool leaf_expired) {
    return hw.record ? hw.record->leaf : (leaf_expired && hw.mode != ExpiryMode::off);
}
bool maybe_waived_ca(const HandshakeWaiver& hw) {
    return hw.record ? hw.record->ca : hw.mode == ExpiryMode::chain;
}

int misdirected(request_rec* r, const char* why) {
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PP_TAG(105) "client certificate accepted by an expiry waiver that %s "
                  "would not apply (%s): 421",
                  r->server->server_hostname ? r->server->server_hostname : "this virtual host", why);
    return HTTP_MISDIRECTED_REQUEST;
}

// What the connection's last passing check found, when it was made for
// this certificate, host and state of the leaf's expiry, and on the
// handshake's record as it is now (a new handshake verifies a new
// certificate, but the record is compared too rather than trusted to
// follow): everything else it read (the host's waiver and anchors) is
// fixed for the configuration's life.
std::optional<ConnectionState::ScopePass> passed_before(request_rec* r, const CertificateFacts& cert,
                                                        bool leaf_expired) {
    ConnectionState* state = connection_state(r);
    if (!state) return std::nullopt;
    std::lock_guard<std::mutex> lock(state->mutex);
    const auto& pass = state->scope_pass;
    if (pass.serial != cert.serial || pass.server != r->server || pass.leaf_expired != leaf_expired ||
        pass.waivers_recorded != state->waivers_recorded)
        return std::nullopt;
    return pass;
}

void remember_pass(request_rec* r, const CertificateFacts& cert, const HandshakeWaiver& hw, bool leaf_expired,
                   bool cert_expired, bool waived) {
    ConnectionState* state = connection_state(r);
    if (!state) return;
    std::lock_guard<std::mutex> lock(state->mutex);
    state->scope_pass = {cert.serial, hw.waivers_recorded, r->server, leaf_expired, cert_expired, waived};
}

void note_scope(request_rec* r, RequestNote& note, const CertificateFacts& cert, bool cert_expired, bool waived,
                ModuleEnv* env) {
    note.scope_checked = cert.serial;
    note.has_cert = true;
    note.cert_not_after = cert.not_after;
    note.cert_expired = cert_expired;
    note.waived = waived;
    const char* expired = cert_expired ? "1" : "0";
    if (env)
        env->write(EnvVar::cert_expired, expired);
    else
        ModuleEnv(r->subprocess_env).write(EnvVar::cert_expired, expired);
}

}  // namespace

int check_waiver_scope(request_rec* r, ModuleEnv* env) {
    const auto cert = certificate_facts(r);
    if (!cert) return OK;  // no certificate: nothing to check, the variables stay unset
    RequestNote& note = request_note(r);
    if (note.scope_checked == cert->serial) return OK;  // this certificate, for this request

    const bool leaf_expired = cert->expired_at(apr_time_sec(r->request_time));
    if (const auto pass = passed_before(r, *cert, leaf_expired)) {
        note_scope(r, note, *cert, pass->cert_expired, pass->waived, env);
        return OK;
    }
    const HandshakeWaiver hw = handshake_waiver(r);
    bool history_consulted = false;
    if (cert->verified) {
        const ServerConfig* here = server_config(r->server);
        if (!covered_here(here, hw, leaf_expired))
            return misdirected(r, hw.record ? (hw.record->ca ? "an issuing CA had expired" : "the certificate had expired")
                                            : "a resumed session whose record is unknown");
        // This host's revocation history, whenever an expiry was (or may
        // have been) waived: the handshake's host may have none, and the
        // history may have grown since the handshake.
        const bool leaf = maybe_waived_leaf(hw, leaf_expired), cas = maybe_waived_ca(hw);
        if (here->history && (leaf || cas)) {
            history_consulted = true;   // it may grow: asked again on every request
            if (!files_followed(r->server)) return misdirected(r, "its revocation history is not being followed");
            const auto history = here->history->current();
            if (!history.value || peer_listed(r, *history.value, cas))
                return misdirected(r, history.value ? "listed in its revocation history"
                                                    : "its revocation history cannot be read");
        }
    }
    const bool cert_expired = leaf_expired || (hw.record && hw.record->ca);
    const bool waived = cert->verified && (hw.record ? hw.record->waived() : leaf_expired);
    if (!history_consulted) remember_pass(r, *cert, hw, leaf_expired, cert_expired, waived);
    note_scope(r, note, *cert, cert_expired, waived, env);
    return OK;
}

}  // namespace polyprov::glue
