// Sets POLYPROV_CERT_EXPIRED, POLYPROV_MAC and POLYPROV_LABEL as soon as a
// request is read, so that <If>, SetEnvIf, mod_rewrite and everything later
// can use them, and refuses (421) a waived certificate in a virtual host
// that waives nothing. No directory has been matched yet: the MAC is read with the
// virtual host's PolyProvCNPattern and the label from its PolyProvACLFile
// (those outside any <Directory>); the fixups hook sets both again with the
// directory's own settings.

#include "client_facts.hpp"
#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"
#include "server_config.hpp"

#include <cstring>

namespace polyprov::glue {

int set_certificate_env(request_rec* r) noexcept {
    try {
        const CertificateFacts* cert = certificate_facts(r);
        if (!cert) return DECLINED;  // no certificate: the variables stay unset
        apr_table_setn(r->subprocess_env, "POLYPROV_CERT_EXPIRED", cert->expired ? "1" : "0");

        const char* verify = ssl_var(r, "SSL_CLIENT_VERIFY");
        const bool verified = verify && std::strcmp(verify, "SUCCESS") == 0;
        // mod_ssl answers 421 when the Host names a virtual host whose TLS
        // settings differ from the one the handshake chose, but it does not
        // know ours: an expired certificate waived by one vhost must not be
        // served, as verified, by another that waives nothing.
        if (verified && cert->leaf_expired && server_config(r->server)->accept_expired == ExpiryMode::off) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          PP_TAG(105) "expired client certificate accepted by another virtual host's "
                          "PolyProvAcceptExpired; %s waives nothing: 421",
                          r->server->server_hostname ? r->server->server_hostname : "this virtual host");
            return HTTP_MISDIRECTED_REQUEST;
        }

        // The MAC is named only for a certificate that authenticates it:
        // verified, or pinned in the virtual host's list. The access check
        // names it on denials too (with the reason beside it).
        const DirConfig* conf = dir_config(r);
        const auto mac = device_mac_from_cn(cert->cn, cn_pattern(conf));
        if (!mac) return DECLINED;
        const AclEntry* entry = nullptr;
        std::shared_ptr<const Acl> acl;
        if (conf->acl) {
            acl = current_acl(r, *conf->acl);
            entry = acl->find(*mac);
        }
        const bool pinned = entry && entry->pin && *entry->pin == cert->fingerprint;
        if (!verified && !pinned) return DECLINED;
        apr_table_set(r->subprocess_env, "POLYPROV_MAC", mac->str().c_str());
        if (entry && !entry->label.empty()) apr_table_set(r->subprocess_env, "POLYPROV_LABEL", entry->label.c_str());
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate");
    }
    return DECLINED;
}

}  // namespace polyprov::glue
