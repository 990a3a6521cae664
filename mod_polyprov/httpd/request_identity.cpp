#include "request_identity.hpp"

#include "glue.hpp"

namespace polyprov::glue {

RequestIdentity identify(request_rec* r, const DirConfig* conf) {
    RequestIdentity id;
    id.cert = certificate_facts(r);
    if (conf->acl) {
        AclFile::View view = conf->acl->current();
        if (view.error)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(207) "cannot read the published ACL, denying: %s",
                          view.error->c_str());
        id.acl = std::move(view.value);
        id.acl_unavailable = !id.acl;
    }
    PresentedCertificate presented;
    if (id.cert) {
        presented.present = true;
        presented.verified = id.cert->verified;
        presented.claimed = remembered_claim(r, *id.cert, cn_pattern(conf));
        presented.fingerprint = id.cert->fingerprint;
    }
    id.auth = authenticate(presented, id.acl.get());
    return id;
}

void set_identity_env(request_rec* r, const Authentication& auth) {
    if (auth.device) {
        apr_table_set(r->subprocess_env, "POLYPROV_MAC", auth.device->str().c_str());
    } else {
        apr_table_unset(r->subprocess_env, "POLYPROV_MAC");
    }
    if (auth.device && auth.entry && !auth.entry->label.empty()) {
        apr_table_set(r->subprocess_env, "POLYPROV_LABEL", auth.entry->label.c_str());
    } else {
        apr_table_unset(r->subprocess_env, "POLYPROV_LABEL");
    }
    if (auth.claimed) {
        apr_table_set(r->subprocess_env, "POLYPROV_CLAIMED_MAC", auth.claimed->str().c_str());
    } else {
        apr_table_unset(r->subprocess_env, "POLYPROV_CLAIMED_MAC");
    }
}

}  // namespace polyprov::glue
