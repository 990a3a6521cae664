// What the module decided about a request, as the fleet view needs it. The
// one place that knows where those facts come from: everything else of the
// fleet view takes this struct.
#pragma once

#include "httpd.h"

#include <ctime>
#include <optional>

#include <polyprov/fleet_record.hpp>
#include <polyprov/mac.hpp>

namespace polyprov::glue {

struct FleetRequestFacts {
    std::optional<Mac> claimed_mac;        // the MAC the certificate's CN names
    std::optional<Mac> authenticated_mac;  // ... when the certificate proves it (verified or pinned)
    const char* label;                     // the ACL's label, or null
    FleetDecision decision;
    bool pinned;                           // admitted by a pinned fingerprint
    bool waived;                           // verified only because an expiry was waived
    bool cert_expired;                     // POLYPROV_CERT_EXPIRED=1
    std::optional<std::time_t> cert_not_after;
};

// nullopt when the module decided nothing about `r` (PolyProvRequireDevice
// is off there) or the decision names no MAC.
std::optional<FleetRequestFacts> fleet_request_facts(request_rec* r);

}  // namespace polyprov::glue
