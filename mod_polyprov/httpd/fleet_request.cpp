// The facts come from the request's note, which the access check and the
// certificate hooks fill by the core's one authentication rule.

#include "fleet_request.hpp"

#include "request_note.hpp"

namespace polyprov::glue {
namespace {

FleetDecision fleet_decision(Denial denial) noexcept {
    switch (denial) {
    case Denial::none: return FleetDecision::allow;
    case Denial::no_cert: return FleetDecision::no_cert;
    case Denial::unverified: return FleetDecision::unverified;
    case Denial::cn_no_mac: return FleetDecision::cn_no_mac;
    case Denial::not_in_acl: return FleetDecision::not_in_acl;
    case Denial::mac_mismatch: return FleetDecision::mac_mismatch;
    case Denial::not_writable: return FleetDecision::not_writable;
    case Denial::not_shared: return FleetDecision::not_shared;
    }
    return FleetDecision::error;
}

}  // namespace

std::optional<FleetRequestFacts> fleet_request_facts(request_rec* r) {
    const RequestNote* note = find_request_note(r);
    if (!note || !note->decided || !note->claimed) return std::nullopt;
    FleetRequestFacts facts{};
    facts.claimed_mac = note->claimed;
    facts.authenticated_mac = note->device;
    facts.label = note->device ? note->label : nullptr;
    facts.decision = fleet_decision(note->denial);
    facts.pinned = note->pinned;
    facts.waived = note->waived;
    facts.cert_expired = note->cert_expired;
    facts.cert_not_after = note->cert_not_after;
    return facts;
}

}  // namespace polyprov::glue
