// What the module decided about a request, as the fleet view needs it. The
// one place that knows where those facts come from: everything else of the
// fleet view takes this struct.
#pragma once

#include "httpd.h"

#include <optional>

#include <polyprov/fleet_record.hpp>
#include <polyprov/mac.hpp>

namespace polyprov::glue {

struct FleetRequestFacts {
    std::optional<Mac> claimed_mac;        // the MAC the certificate's CN names
    std::optional<Mac> authenticated_mac;  // ... when the certificate proves it (verified or pinned)
    const char* label;                     // the ACL's label, or null
    FleetDecision decision;
    bool pinned;                           // admitted by a pinned fingerprint, not by a CA
    bool waived;                           // verified only because its expiry was waived
    bool cert_expired;                     // POLYPROV_CERT_EXPIRED=1
    const char* cert_not_after;            // as mod_ssl prints it (SSL_CLIENT_V_END), or null
};

// nullopt when the module decided nothing about `r` (no POLYPROV_DECISION:
// PolyProvRequireDevice is off there) or the decision names no MAC.
std::optional<FleetRequestFacts> fleet_request_facts(request_rec* r);

}  // namespace polyprov::glue
