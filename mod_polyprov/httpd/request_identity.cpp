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
        presented.fingerprint = [cert = id.cert.get()] { return cert->fingerprint(); };  // while `id` lives
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

// The answer without the list it points into (auth.entry): the list is
// watched, not held, so an idle connection never keeps an old version of
// a large list alive; when the list is gone, so is the answer. The pin
// lists are read only while authenticating.
struct Remembered {
    Inputs inputs;
    Authentication auth;
    std::weak_ptr<const Acl> acl;   // the membership list's, when inputs name one
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

// Fills `id` (whose cert is set) from the connection's memory of `in`.
bool recall(request_rec* r, IdentitySlot slot, const Inputs& in, RequestIdentity* id) {
    const auto known = std::static_pointer_cast<const Remembered>(remembered_identity(r, slot));
    if (!known || !(known->inputs == in)) return false;
    if (in.membership && !(id->acl = known->acl.lock())) return false;
    id->auth = known->auth;
    return true;
}

// Remembers `id`, derived from `in`, unless the lists moved on while it
// was being derived (then the next request derives it again).
void remember(request_rec* r, IdentitySlot slot, const Inputs& in, const RequestIdentity& id) {
    if (id.acl_unavailable) return;
    Inputs after = in;
    if (!served_now(&after) || after.versions != in.versions) return;
    remember_identity(r, slot, std::make_shared<const Remembered>(Remembered{in, id.auth, id.acl}));
}

Inputs inputs_of(const RequestIdentity& id, const DirConfig* conf, const std::vector<AclFile*>* sections) {
    Inputs in;
    in.cert = id.cert.get();
    in.cert_serial = id.cert ? id.cert->serial : 0;
    in.pattern = &cn_pattern(conf);
    in.membership = conf->acl;
    in.sections = sections;
    return in;
}

}  // namespace

RequestIdentity identify(request_rec* r, const DirConfig* conf) {
    RequestIdentity id;
    id.cert = certificate_facts(r);
    Inputs in = inputs_of(id, conf, nullptr);
    const bool memo = rememberable(r, &in);
    if (memo && recall(r, IdentitySlot::access, in, &id)) return id;

    if (conf->acl) id.acl = current_list(r, *conf->acl, &id.acl_unavailable);
    id.auth = authenticate(presented_by(r, id, conf), id.acl_unavailable ? &nobody() : id.acl.get());
    if (memo) remember(r, IdentitySlot::access, in, id);
    return id;
}

RequestIdentity identify_early(request_rec* r) {
    const DirConfig* conf = dir_config(r);
    RequestIdentity id;
    id.cert = certificate_facts(r);
    Inputs in = inputs_of(id, conf, server_config(r->server)->section_acls);
    const bool memo = rememberable(r, &in);
    if (memo && recall(r, IdentitySlot::early, in, &id)) return id;

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

// `var` is written only when its value changes or the table no longer
// holds it as this module wrote it. `*written` is what it holds as we
// wrote it last.
template <typename Text>
void write_env(ModuleEnv& env, EnvVar var, bool unchanged, const char** written, Text text) {
    if (unchanged && env.holds(var, *written)) return;
    *written = text();
    env.write(var, *written);
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

void set_identity_env(request_rec* r, const Authentication& auth, ModuleEnv& env) {
    const char* label = auth.device && auth.entry && !auth.entry->label.empty() ? auth.entry->label.c_str() : nullptr;
    RequestNote& note = request_note(r);
    const bool known = note.env_written;
    write_env(env, EnvVar::mac, known && note.env_device == auth.device, &note.env_mac,
              [&] { return mac_text(r->pool, auth.device); });
    write_env(env, EnvVar::label, known && same_text(note.env_label, label), &note.env_label,
              [&] { return label ? apr_pstrdup(r->pool, label) : nullptr; });
    write_env(env, EnvVar::claimed_mac, known && note.env_claimed_mac == auth.claimed, &note.env_claimed, [&] {
        return auth.claimed && auth.claimed == auth.device && note.env_mac ? note.env_mac   // the same text
                                                                           : mac_text(r->pool, auth.claimed);
    });
    note.env_device = auth.device;
    note.env_claimed_mac = auth.claimed;
    note.env_written = true;
}

}  // namespace polyprov::glue
