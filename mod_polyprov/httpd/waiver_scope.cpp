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

}  // namespace

int check_waiver_scope(request_rec* r, ModuleEnv* env) {
    const auto cert = certificate_facts(r);
    if (!cert) return OK;  // no certificate: nothing to check, the variables stay unset
    RequestNote& note = request_note(r);
    if (note.scope_checked == cert->serial) return OK;  // this certificate, for this request

    const bool leaf_expired = cert->expired_at(apr_time_sec(r->request_time));
    const HandshakeWaiver hw = handshake_waiver(r);
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
            if (!files_followed(r->server)) return misdirected(r, "its revocation history is not being followed");
            const auto history = here->history->current();
            if (!history.value || peer_listed(r, *history.value, cas))
                return misdirected(r, history.value ? "listed in its revocation history"
                                                    : "its revocation history cannot be read");
        }
    }
    note.scope_checked = cert->serial;
    note.has_cert = true;
    note.cert_not_after = cert->not_after;
    note.cert_expired = leaf_expired || (hw.record && hw.record->ca);
    note.waived = cert->verified && (hw.record ? hw.record->waived() : leaf_expired);
    const char* expired = note.cert_expired ? "1" : "0";
    if (env)
        env->write(EnvVar::cert_expired, expired);
    else
        ModuleEnv(r->subprocess_env).write(EnvVar::cert_expired, expired);
    return OK;
}

}  // namespace polyprov::glue
