#include "request_identity.hpp"

#include "glue.hpp"
#include "server_config.hpp"
#include "shared_files.hpp"

namespace polyprov::glue {

namespace {

// A list nobody is on: what a device is checked against when its list is
// not known (fail closed; the claim stays for the log).
const Acl& nobody() {
    static const Acl empty = Acl::parse("", "(no list)");
    return empty;
}

// The list as it is now; null with `unavailable` set when it cannot be read
// or is not being followed.
std::shared_ptr<const Acl> current_list(request_rec* r, AclFile& file, bool* unavailable) {
    AclFile::View view = file.current();
    if (view.error)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(207) "cannot read the published ACL, denying: %s",
                      view.error->c_str());
    if (!view.value || !files_followed(r->server)) *unavailable = true;
    return std::move(view.value);
}

PresentedCertificate presented_by(request_rec* r, const RequestIdentity& id, const DirConfig* conf) {
    PresentedCertificate presented;
    if (id.cert) {
        presented.present = true;
        presented.verified = id.cert->verified;
        presented.claimed = remembered_claim(r, *id.cert, cn_pattern(conf));
        presented.fingerprint = id.cert->fingerprint;
    }
    return presented;
}

}  // namespace

RequestIdentity identify(request_rec* r, const DirConfig* conf) {
    RequestIdentity id;
    id.cert = certificate_facts(r);
    if (conf->acl) id.acl = current_list(r, *conf->acl, &id.acl_unavailable);
    id.auth = authenticate(presented_by(r, id, conf), id.acl_unavailable ? &nobody() : id.acl.get());
    return id;
}

RequestIdentity identify_early(request_rec* r) {
    const DirConfig* conf = dir_config(r);
    RequestIdentity id;
    id.cert = certificate_facts(r);
    if (conf->acl) id.acl = current_list(r, *conf->acl, &id.acl_unavailable);
    std::vector<std::shared_ptr<const Acl>> held;   // alive while authenticate() reads them
    std::vector<const Acl*> pins{id.acl.get()};
    if (const auto* sections = server_config(r->server)->section_acls)
        for (AclFile* file : *sections) {
            held.push_back(current_list(r, *file, &id.acl_unavailable));
            pins.push_back(held.back().get());
        }
    const PresentedCertificate presented = presented_by(r, id, conf);
    id.auth = id.acl_unavailable ? authenticate(presented, &nobody()) : authenticate(presented, pins, id.acl.get());
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
