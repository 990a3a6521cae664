// What the module established about one request, for the hooks that run
// after the decision (the upload handler, the response hooks, the fleet
// view): kept in r->request_config, allocated from r->pool.
#pragma once

#include "httpd.h"

#include <cstdint>
#include <ctime>
#include <optional>

#include <polyprov/denial.hpp>
#include <polyprov/mac.hpp>

namespace polyprov::glue {

struct HeldFacts;   // connection_identity.cpp

struct RequestNote {
    bool decided = false;          // PolyProvRequireDevice applied and the module decided
    const char* decision = nullptr;   // POLYPROV_DECISION as the module last set it (?metrics counts it)
    Denial denial = Denial::none;
    std::optional<Mac> device;     // authenticated (POLYPROV_MAC)
    std::optional<Mac> claimed;    // what the certificate's CN claims (POLYPROV_CLAIMED_MAC)
    const char* label = nullptr;   // the device's ACL label, in r->pool
    bool pinned = false;           // admitted by its pin
    bool waived = false;           // verified only because an expiry was waived
    bool cert_expired = false;     // POLYPROV_CERT_EXPIRED
    std::uint64_t scope_checked = 0;   // the certificate (CertificateFacts::serial) the 421 check passed
    bool has_cert = false;         // a client certificate came with the request
    std::optional<std::time_t> cert_not_after;   // its notAfter, when readable
    HeldFacts* held_facts = nullptr;   // the certificate's facts as this request last saw them (r->pool)

    // POLYPROV_MAC, POLYPROV_LABEL and POLYPROV_CLAIMED_MAC as the module
    // last wrote them (in r->pool; null: unset), so that the access check
    // rewrites them only when its answer differs from the early one or
    // something else changed them meanwhile.
    bool env_written = false;
    std::optional<Mac> env_device, env_claimed_mac;   // what env_mac and env_claimed name
    const char* env_mac = nullptr;
    const char* env_label = nullptr;
    const char* env_claimed = nullptr;

    // What the decision was made on, so a second look (the type checker
    // decides first, fixups again) reuses it when nothing changed.
    const void* memo_dir = nullptr;
    const char* memo_method = nullptr;
    const char* memo_uri = nullptr;
    const char* memo_filename = nullptr;
    const char* memo_path_info = nullptr;
};

// The request's note, created empty on first use.
RequestNote& request_note(request_rec* r);
// Sets POLYPROV_DECISION to `decision` (a string that outlives the request)
// and notes it for the counters.
void set_decision(request_rec* r, const char* decision);
// Null when the module has noted nothing about the request.
const RequestNote* find_request_note(const request_rec* r);

}  // namespace polyprov::glue
