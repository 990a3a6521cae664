// Today the facts come from the environment the access check leaves
// (POLYPROV_MAC, POLYPROV_LABEL, POLYPROV_DECISION, POLYPROV_CERT_EXPIRED)
// and from mod_ssl's variables. POLYPROV_MAC is set from the CN on denials
// too, so it is the claimed MAC; whether the certificate proves it follows
// from SSL_CLIENT_VERIFY and the decision.

#include "fleet_request.hpp"

#include "client_facts.hpp"

#include <cstring>

namespace polyprov::glue {

std::optional<FleetRequestFacts> fleet_request_facts(request_rec* r) {
    const char* decision_text = apr_table_get(r->subprocess_env, "POLYPROV_DECISION");
    if (!decision_text) return std::nullopt;
    const auto decision = parse_decision(decision_text);
    const char* mac_text = apr_table_get(r->subprocess_env, "POLYPROV_MAC");
    const auto mac = mac_text ? Mac::parse(mac_text) : std::nullopt;
    if (!decision || !mac) return std::nullopt;

    FleetRequestFacts facts{};
    facts.claimed_mac = mac;
    facts.decision = *decision;
    facts.label = apr_table_get(r->subprocess_env, "POLYPROV_LABEL");
    const char* expired = apr_table_get(r->subprocess_env, "POLYPROV_CERT_EXPIRED");
    facts.cert_expired = expired && std::strcmp(expired, "1") == 0;

    const char* verify = ssl_var(r, "SSL_CLIENT_VERIFY");
    const bool verified = verify && std::strcmp(verify, "SUCCESS") == 0;
    // The access check reaches these decisions only past its pin check, so
    // an unverified certificate here is the pinned one.
    const bool past_pin_check = *decision == FleetDecision::allow || *decision == FleetDecision::mac_mismatch ||
                                *decision == FleetDecision::not_writable;
    facts.pinned = !verified && past_pin_check;
    // A verified certificate whose MAC pins another one is not the device's.
    const bool proven = (verified && *decision != FleetDecision::unverified) || facts.pinned;
    if (proven) facts.authenticated_mac = mac;
    facts.waived = verified && facts.cert_expired;
    facts.cert_not_after = ssl_var(r, "SSL_CLIENT_V_END");
    return facts;
}

}  // namespace polyprov::glue
