// Sets POLYPROV_CERT_EXPIRED, POLYPROV_MAC and POLYPROV_LABEL as soon as a
// request is read, so that <If>, SetEnvIf, mod_rewrite and everything later
// can use them. No directory has been matched yet: the MAC is read with the
// virtual host's PolyProvCNPattern and the label from its PolyProvACLFile
// (those outside any <Directory>); the fixups hook sets both again with the
// directory's own settings.

#include "client_facts.hpp"
#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"

namespace polyprov::glue {

int set_certificate_env(request_rec* r) noexcept {
    try {
        const CertificateFacts* cert = certificate_facts(r);
        if (!cert) return DECLINED;  // no certificate: the variables stay unset
        apr_table_setn(r->subprocess_env, "POLYPROV_CERT_EXPIRED", cert->expired ? "1" : "0");

        const DirConfig* conf = dir_config(r);
        const auto mac = device_mac_from_cn(cert->cn, cn_pattern(conf));
        if (!mac) return DECLINED;
        apr_table_set(r->subprocess_env, "POLYPROV_MAC", mac->str().c_str());
        if (conf->acl) {
            const auto acl = current_acl(r, *conf->acl);
            const AclEntry* entry = acl->find(*mac);
            if (entry && !entry->label.empty()) apr_table_set(r->subprocess_env, "POLYPROV_LABEL", entry->label.c_str());
        }
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate");
    }
    return DECLINED;
}

}  // namespace polyprov::glue
