// As soon as a request is read: refuses (421) a certificate that was
// accepted only because a waiver applied that the request's own virtual
// host would not apply, and sets POLYPROV_CERT_EXPIRED, POLYPROV_MAC,
// POLYPROV_LABEL and POLYPROV_CLAIMED_MAC, so that <If>, SetEnvIf,
// mod_rewrite and everything later can use them. No directory has been
// matched yet: the device is authenticated with the virtual host's
// PolyProvCNPattern and PolyProvACLFile (those outside any <Directory>);
// the access check authenticates again with the directory's own settings.

#include "connection_identity.hpp"
#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"
#include "identity_env.hpp"
#include "request_note.hpp"
#include "server_config.hpp"
#include "waiver_scope.hpp"

namespace polyprov::glue {

int set_certificate_env(request_rec* r) noexcept {
    try {
        ModuleEnv env(r->subprocess_env);
        const int scope = check_waiver_scope(r, &env);
        if (scope != OK) return scope;
        if (!certificate_facts(r)) return DECLINED;  // no certificate: the variables stay unset
        const RequestIdentity id = identify(r, Checkpoint::request_read);
        set_identity_env(r, id.auth, env);
        return DECLINED;
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate");
    }
    return HTTP_INTERNAL_SERVER_ERROR;  // fail closed: the 421 check could not be made
}

// Again in fixups, first of all, for every request: a certificate mod_ssl
// asked for in its access checker (per-directory SSLVerifyClient, by
// renegotiation or TLS 1.3 post-handshake authentication) arrives after
// the request was read.
int recheck_waiver_scope(request_rec* r) noexcept {
    try {
        return check_waiver_scope(r) == OK ? DECLINED : HTTP_MISDIRECTED_REQUEST;
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace polyprov::glue
