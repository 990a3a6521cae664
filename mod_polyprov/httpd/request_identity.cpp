#include "request_identity.hpp"

#include <cstring>

#include "glue.hpp"
#include "request_note.hpp"
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

namespace {

struct MacText {
    char text[Mac::kTextSize];
    const char* c_str = nullptr;  // null: no MAC
    explicit MacText(const std::optional<Mac>& mac) {
        if (mac) mac->format(text), c_str = text;
    }
};

bool same_text(const char* a, const char* b) { return a == b || (a && b && std::strcmp(a, b) == 0); }

// Sets or unsets one variable, unless it already holds `value` as this
// module wrote it last (`*written`, in r->pool): every POLYPROV_ name
// shares APR's table checksum, so each write compares against all of them.
void write_env(request_rec* r, const char* name, const char* value, bool known, const char** written) {
    if (known && same_text(*written, value) && apr_table_get(r->subprocess_env, name) == *written) return;
    if (!value) {
        apr_table_unset(r->subprocess_env, name);
        *written = nullptr;
        return;
    }
    *written = apr_pstrdup(r->pool, value);
    apr_table_setn(r->subprocess_env, name, *written);
}

}  // namespace

void set_identity_env(request_rec* r, const Authentication& auth) {
    const MacText mac(auth.device), claimed(auth.claimed);
    const char* label = auth.device && auth.entry && !auth.entry->label.empty() ? auth.entry->label.c_str() : nullptr;
    RequestNote& note = request_note(r);
    // What the variables hold when nothing touched them since our last
    // write (apr_table_setn keeps our pointers) need not be written again.
    write_env(r, "POLYPROV_MAC", mac.c_str, note.env_written, &note.env_mac);
    write_env(r, "POLYPROV_LABEL", label, note.env_written, &note.env_label);
    write_env(r, "POLYPROV_CLAIMED_MAC", claimed.c_str, note.env_written, &note.env_claimed);
    note.env_written = true;
}

}  // namespace polyprov::glue
