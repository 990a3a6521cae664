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

// What an identity was derived from. The same inputs on the same
// certificate give the same answer: patterns and files belong to the
// configuration (fixed for a process's life), and a list's contents are
// named by its generation.
struct Inputs {
    const CertificateFacts* cert = nullptr;
    std::uint64_t cert_serial = 0;
    const MacPattern* pattern = nullptr;
    const AclFile* membership = nullptr;
    const std::vector<AclFile*>* sections = nullptr;
    std::uint64_t versions = 0;   // the lists' generations summed: each only grows

    bool operator==(const Inputs& o) const noexcept {
        return cert == o.cert && cert_serial == o.cert_serial && pattern == o.pattern && membership == o.membership &&
               sections == o.sections && versions == o.versions;
    }
};

// id.acl keeps the list that id.auth.entry points into; the pin lists
// are read only while authenticating.
struct Remembered {
    Inputs inputs;
    RequestIdentity id;
};

// The lists' generations as served now; false when one of them is about to
// be loaded anew (then nothing is recalled or remembered). Read before the
// lists themselves, so a list that changes in between makes the memory
// older than its answer, never newer.
bool served_now(Inputs* in) {
    std::uint64_t generation = 0;
    in->versions = 0;
    if (in->membership) {
        if (!in->membership->serving(&generation)) return false;
        in->versions += generation;
    }
    if (in->sections)
        for (const AclFile* file : *in->sections) {
            if (!file->serving(&generation)) return false;
            in->versions += generation;
        }
    return true;
}

// Whether the connection may remember an identity derived from `in`: a
// certificate, lists being followed (else the answer is "unavailable",
// decided afresh each time), none about to change.
bool rememberable(request_rec* r, Inputs* in) {
    if (!in->cert) return false;
    if ((in->membership || in->sections) && !files_followed(r->server)) return false;
    return served_now(in);
}

const RequestIdentity* recall(request_rec* r, IdentitySlot slot, const Inputs& in,
                              std::shared_ptr<const Remembered>* holder) {
    *holder = std::static_pointer_cast<const Remembered>(remembered_identity(r, slot));
    return *holder && (*holder)->inputs == in ? &(*holder)->id : nullptr;
}

void remember(request_rec* r, IdentitySlot slot, const Inputs& in, const RequestIdentity& id) {
    if (id.acl_unavailable) return;
    remember_identity(r, slot, std::make_shared<const Remembered>(Remembered{in, id}));
}

}  // namespace

RequestIdentity identify(request_rec* r, const DirConfig* conf) {
    RequestIdentity id;
    id.cert = certificate_facts(r);
    Inputs in;
    in.cert = id.cert.get();
    in.cert_serial = id.cert ? id.cert->serial : 0;
    in.pattern = &cn_pattern(conf);
    in.membership = conf->acl;
    const bool memo = rememberable(r, &in);
    std::shared_ptr<const Remembered> holder;
    if (memo)
        if (const RequestIdentity* known = recall(r, IdentitySlot::access, in, &holder)) return *known;

    if (conf->acl) id.acl = current_list(r, *conf->acl, &id.acl_unavailable);
    id.auth = authenticate(presented_by(r, id, conf), id.acl_unavailable ? &nobody() : id.acl.get());
    if (memo) remember(r, IdentitySlot::access, in, id);
    return id;
}

RequestIdentity identify_early(request_rec* r) {
    const DirConfig* conf = dir_config(r);
    RequestIdentity id;
    id.cert = certificate_facts(r);
    Inputs in;
    in.cert = id.cert.get();
    in.cert_serial = id.cert ? id.cert->serial : 0;
    in.pattern = &cn_pattern(conf);
    in.membership = conf->acl;
    in.sections = server_config(r->server)->section_acls;
    const bool memo = rememberable(r, &in);
    std::shared_ptr<const Remembered> holder;
    if (memo)
        if (const RequestIdentity* known = recall(r, IdentitySlot::early, in, &holder)) return *known;

    if (conf->acl) id.acl = current_list(r, *conf->acl, &id.acl_unavailable);
    std::vector<std::shared_ptr<const Acl>> held;   // alive while authenticate() reads them
    std::vector<const Acl*> pins{id.acl.get()};
    if (in.sections)
        for (AclFile* file : *in.sections) {
            held.push_back(current_list(r, *file, &id.acl_unavailable));
            pins.push_back(held.back().get());
        }
    const PresentedCertificate presented = presented_by(r, id, conf);
    id.auth = id.acl_unavailable ? authenticate(presented, &nobody()) : authenticate(presented, pins, id.acl.get());
    if (memo) remember(r, IdentitySlot::early, in, id);
    return id;
}

namespace {

bool same_text(const char* a, const char* b) { return a == b || (a && b && std::strcmp(a, b) == 0); }

// Every POLYPROV_ name shares APR's table checksum, so each write compares
// against all of them: a variable is written only when its value changes
// or something else replaced what this module wrote (the table no longer
// holds our pointer). `*written` is what it holds as we wrote it last.
template <typename Text>
void write_env(request_rec* r, const char* name, bool unchanged, const char** written, Text text) {
    if (unchanged && apr_table_get(r->subprocess_env, name) == *written) return;
    *written = text();
    if (*written)
        apr_table_setn(r->subprocess_env, name, *written);
    else
        apr_table_unset(r->subprocess_env, name);
}

const char* mac_text(apr_pool_t* pool, const std::optional<Mac>& mac) {
    if (!mac) return nullptr;
    struct Text {
        char c[Mac::kTextSize];
    };
    auto* text = static_cast<Text*>(apr_palloc(pool, sizeof(Text)));
    mac->format(text->c);
    return text->c;
}

}  // namespace

void set_identity_env(request_rec* r, const Authentication& auth) {
    const char* label = auth.device && auth.entry && !auth.entry->label.empty() ? auth.entry->label.c_str() : nullptr;
    RequestNote& note = request_note(r);
    const bool known = note.env_written;
    write_env(r, "POLYPROV_MAC", known && note.env_device == auth.device, &note.env_mac,
              [&] { return mac_text(r->pool, auth.device); });
    write_env(r, "POLYPROV_LABEL", known && same_text(note.env_label, label), &note.env_label,
              [&] { return label ? apr_pstrdup(r->pool, label) : nullptr; });
    write_env(r, "POLYPROV_CLAIMED_MAC", known && note.env_claimed_mac == auth.claimed, &note.env_claimed,
              [&] { return mac_text(r->pool, auth.claimed); });
    note.env_device = auth.device;
    note.env_claimed_mac = auth.claimed;
    note.env_written = true;
}

}  // namespace polyprov::glue
