// Client certificate facts are derived from the certificate itself and the
// waiver's record in the TLS session rather than from the handshake alone:
// a resumed session runs no verification of ours, but it carries both.

#include "connection_identity.hpp"

#include "connection_state.hpp"
#include "dir_config.hpp"
#include "glue.hpp"
#include "request_note.hpp"
#include "server_config.hpp"
#include "shared_files.hpp"

#include <cstring>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include <polyprov/client_cert.hpp>

namespace polyprov::glue {

CertificateFacts::CertificateFacts(X509* cert) : cert_(cert) { X509_up_ref(cert_); }

CertificateFacts::~CertificateFacts() { X509_free(cert_); }

const std::optional<Sha256>& CertificateFacts::fingerprint() const {
    std::call_once(digested_, [this] { fingerprint_ = certificate_sha256(cert_); });
    return fingerprint_;
}

struct HeldFacts {
    std::shared_ptr<const CertificateFacts> facts;
};

namespace {

// What the connection keeps of what was derived from its current
// certificate (ConnectionState::derived), dropped when it changes.
enum Derived { claim_slot, request_read_slot, access_slot, derived_slots };
static_assert(std::extent_v<decltype(ConnectionState::derived)> == derived_slots, "a slot for each");

std::shared_ptr<CertificateFacts> read_facts(request_rec* r, X509* cert) {
    auto facts = std::make_shared<CertificateFacts>(cert);
    facts->cn = single_common_name(cert);
    facts->not_after = not_after(cert);
    facts->not_after_text = not_after_iso8601(cert);
    const char* verify = ssl_var(r, "SSL_CLIENT_VERIFY");
    facts->verified = verify && std::strcmp(verify, "SUCCESS") == 0;
    return facts;
}

// The connection's facts for `cert`, made anew when it is not the
// certificate they were made for (renegotiation).
std::shared_ptr<const CertificateFacts> connection_facts(request_rec* r, ConnectionState& state, X509* cert) {
    std::lock_guard<std::mutex> lock(state.mutex);
    // The facts hold a reference to their certificate, so no later
    // certificate can take its address: the pointer comparison is sound.
    if (!state.facts || state.facts->certificate() != cert) {
        // Read in full before anything changes: if reading fails, the
        // connection is left as it was and the request fails closed.
        auto facts = read_facts(r, cert);
        facts->serial = state.certificates_seen + 1;
        for (auto& derived : state.derived) derived.reset();
        state.facts = std::move(facts);
        ++state.certificates_seen;
    }
    return state.facts;
}

apr_status_t release_held_facts(void* held) {
    static_cast<HeldFacts*>(held)->~HeldFacts();
    return APR_SUCCESS;
}

void hold_for_request(request_rec* r, RequestNote& note, const std::shared_ptr<const CertificateFacts>& facts) {
    if (!note.held_facts) {
        note.held_facts = new (apr_palloc(r->pool, sizeof(HeldFacts))) HeldFacts{};
        apr_pool_cleanup_register(r->pool, note.held_facts, release_held_facts, apr_pool_cleanup_null);
    }
    note.held_facts->facts = facts;
}

std::shared_ptr<const void> recalled(request_rec* r, Derived slot) {
    ConnectionState* state = connection_state(r);
    if (!state) return nullptr;
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->derived[slot];
}

// Kept only while `facts` are still the connection's: a renegotiation
// meanwhile dropped what was derived from the certificate before.
void keep(request_rec* r, Derived slot, const CertificateFacts& facts, std::shared_ptr<const void> value) {
    ConnectionState* state = connection_state(r);
    if (!state) return;
    std::lock_guard<std::mutex> lock(state->mutex);
    if (state->facts.get() == &facts) state->derived[slot] = std::move(value);
}

struct Claim {
    const CertificateFacts* facts = nullptr;   // an older certificate's facts may still be in a request's hands
    const MacPattern* pattern = nullptr;
    std::optional<Mac> mac;
};

// The MAC the certificate's CN claims under `pattern`, remembered per
// connection (the pattern is a regex; phones send many requests over one
// connection).
std::optional<Mac> claim_of(request_rec* r, const CertificateFacts& facts, const MacPattern& pattern) {
    const auto known = std::static_pointer_cast<const Claim>(recalled(r, claim_slot));
    if (known && known->facts == &facts && known->pattern == &pattern) return known->mac;
    auto claim = std::make_shared<const Claim>(Claim{&facts, &pattern, claimed_mac(facts.cn, pattern)});
    const std::optional<Mac> mac = claim->mac;
    keep(r, claim_slot, facts, std::move(claim));
    return mac;
}

// A list nobody is on: what a device is checked against when its list is
// not known (fail closed; the claim stays for the log).
const Acl& nobody() {
    static const Acl empty = Acl::parse("", "(no list)");
    return empty;
}

// The list as it is now; null with `unavailable` set when it cannot be read
// or is not being followed.
std::shared_ptr<const Acl> current_list(request_rec* r, AclFile& file, bool* unavailable) {
    if (!files_followed(r->server)) {   // nobody publishes: do not ask
        *unavailable = true;
        return nullptr;
    }
    AclFile::View view = file.current();
    if (view.error)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(207) "cannot read the published ACL, denying: %s",
                      view.error->c_str());
    if (!view.value) *unavailable = true;
    return std::move(view.value);
}

PresentedCertificate presented_by(request_rec* r, const RequestIdentity& id, const DirConfig* conf) {
    PresentedCertificate presented;
    if (id.cert) {
        presented.present = true;
        presented.verified = id.cert->verified;
        presented.claimed = claim_of(r, *id.cert, cn_pattern(conf));
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
bool recall(request_rec* r, Derived slot, const Inputs& in, RequestIdentity* id) {
    const auto known = std::static_pointer_cast<const Remembered>(recalled(r, slot));
    if (!known || !(known->inputs == in)) return false;
    if (in.membership && !(id->acl = known->acl.lock())) return false;
    id->auth = known->auth;
    return true;
}

// Remembers `id`, derived from `in`, unless the lists moved on while it
// was being derived (then the next request derives it again).
void remember(request_rec* r, Derived slot, const Inputs& in, const RequestIdentity& id) {
    if (id.acl_unavailable) return;
    Inputs after = in;
    if (!served_now(&after) || after.versions != in.versions) return;
    keep(r, slot, *id.cert, std::make_shared<const Remembered>(Remembered{in, id.auth, id.acl}));
}

// Authenticates afresh: against the directory's list, and at
// request_read also against the pins of every list the host's sections name.
void authenticate_now(request_rec* r, const DirConfig* conf, const std::vector<AclFile*>* sections,
                      Checkpoint at, RequestIdentity* id) {
    if (conf->acl) id->acl = current_list(r, *conf->acl, &id->acl_unavailable);
    const PresentedCertificate presented = presented_by(r, *id, conf);
    if (at == Checkpoint::access) {
        id->auth = authenticate(presented, id->acl_unavailable ? &nobody() : id->acl.get());
        return;
    }
    std::vector<std::shared_ptr<const Acl>> held;   // alive while authenticate() reads them
    std::vector<const Acl*> pins{id->acl.get()};
    if (sections)
        for (AclFile* file : *sections) {
            held.push_back(current_list(r, *file, &id->acl_unavailable));
            pins.push_back(held.back().get());
        }
    id->auth = id->acl_unavailable ? authenticate(presented, &nobody()) : authenticate(presented, pins, id->acl.get());
}

}  // namespace

std::shared_ptr<const CertificateFacts> certificate_facts(request_rec* r) {
    ConnectionState* state = connection_state(r);
    if (!state) return nullptr;
    X509* cert = SSL_get0_peer_certificate(state->ssl);
    if (!cert) return nullptr;
    // The facts hold a reference to their certificate, so while the request
    // holds them no other certificate can take that address.
    RequestNote& note = request_note(r);
    if (note.held_facts && note.held_facts->facts && note.held_facts->facts->certificate() == cert)
        return note.held_facts->facts;
    std::shared_ptr<const CertificateFacts> facts = connection_facts(r, *state, cert);
    if (facts) hold_for_request(r, note, facts);
    return facts;
}

RequestIdentity identify(request_rec* r, Checkpoint at) {
    const DirConfig* conf = dir_config(r);
    const std::vector<AclFile*>* sections =
        at == Checkpoint::request_read ? server_config(r->server)->section_acls : nullptr;
    const Derived slot = at == Checkpoint::request_read ? request_read_slot : access_slot;
    RequestIdentity id;
    id.cert = certificate_facts(r);
    Inputs in;
    in.cert = id.cert.get();
    in.cert_serial = id.cert ? id.cert->serial : 0;
    in.pattern = &cn_pattern(conf);
    in.membership = conf->acl;
    in.sections = sections;
    const bool memo = rememberable(r, &in);
    if (memo && recall(r, slot, in, &id)) return id;
    authenticate_now(r, conf, sections, at, &id);
    if (memo) remember(r, slot, in, id);
    return id;
}

}  // namespace polyprov::glue
