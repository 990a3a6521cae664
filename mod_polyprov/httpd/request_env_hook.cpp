// As soon as a request is read: refuses (421) a certificate that was
// accepted only because a waiver applied that the request's own virtual
// host would not apply, and sets POLYPROV_CERT_EXPIRED, POLYPROV_MAC,
// POLYPROV_LABEL and POLYPROV_CLAIMED_MAC, so that <If>, SetEnvIf,
// mod_rewrite and everything later can use them. No directory has been
// matched yet: the device is authenticated with the virtual host's
// PolyProvCNPattern and PolyProvACLFile (those outside any <Directory>);
// the access check authenticates again with the directory's own settings.

#include "connection_state.hpp"
#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"
#include "request_identity.hpp"
#include "request_note.hpp"
#include "server_config.hpp"

namespace polyprov::glue {
namespace {

// What the handshake waived is served only where it would be waived.
bool served_here(request_rec* r, const HandshakeWaiver& hw, bool leaf_expired) {
    const ServerConfig* here = server_config(r->server);
    if (hw.record) return waiver_covers(here->accept_expired, here->anchors, *hw.record);
    return waiver_covers_unknown(here->accept_expired, here->anchors, hw.mode, hw.anchors, leaf_expired);
}

}  // namespace

int set_certificate_env(request_rec* r) noexcept {
    try {
        const auto cert = certificate_facts(r);
        if (!cert) return DECLINED;  // no certificate: the variables stay unset
        const bool leaf_expired = cert->expired_at(apr_time_sec(r->request_time));
        const HandshakeWaiver hw = handshake_waiver(r);

        // mod_ssl answers 421 when the Host names a virtual host whose TLS
        // settings differ from the one the handshake chose, but it does not
        // know ours.
        if (cert->verified && !served_here(r, hw, leaf_expired)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          PP_TAG(105) "client certificate accepted by another virtual host's expiry waiver "
                          "(%s%s), which %s would not apply: 421",
                          hw.record ? (hw.record->ca ? "an issuing CA expired" : "the certificate expired")
                                    : "a resumed session",
                          hw.record ? "" : ", waiver unknown",
                          r->server->server_hostname ? r->server->server_hostname : "this virtual host");
            return HTTP_MISDIRECTED_REQUEST;
        }
        const bool ca_expired = hw.record && hw.record->ca;
        RequestNote& note = request_note(r);
        note.has_cert = true;
        note.cert_not_after = cert->not_after;
        note.cert_expired = leaf_expired || ca_expired;
        note.waived = cert->verified && (hw.record ? hw.record->waived() : leaf_expired);
        apr_table_setn(r->subprocess_env, "POLYPROV_CERT_EXPIRED", note.cert_expired ? "1" : "0");

        const RequestIdentity id = identify(r, dir_config(r));
        set_identity_env(r, id.auth);
        return DECLINED;
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate");
    }
    return HTTP_INTERNAL_SERVER_ERROR;  // fail closed: the 421 check could not be made
}

}  // namespace polyprov::glue
