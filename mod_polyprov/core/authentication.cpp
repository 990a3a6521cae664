#include <polyprov/authentication.hpp>

namespace polyprov {

const char* decision_string(Denial denial) noexcept {
    switch (denial) {
    case Denial::none: return "allow";
    case Denial::no_cert: return "deny:no-cert";
    case Denial::unverified: return "deny:unverified";
    case Denial::cn_no_mac: return "deny:cn-no-mac";
    case Denial::not_in_acl: return "deny:not-in-acl";
    case Denial::mac_mismatch: return "deny:mac-mismatch";
    case Denial::not_writable: return "deny:not-writable";
    }
    return "deny:unknown";
}

const char* denial_reason(Denial denial) noexcept {
    return denial == Denial::none ? "" : decision_string(denial) + 5;
}

std::optional<Mac> claimed_mac(const std::optional<std::string>& single_cn, const MacPattern& cn_pattern) {
    if (!single_cn) return std::nullopt;
    return device_mac_from_cn(*single_cn, cn_pattern);
}

Authentication authenticate(const PresentedCertificate& cert, const Acl* acl) {
    Authentication a;
    if (!cert.present) {
        a.denial = Denial::no_cert;
        return a;
    }
    a.claimed = cert.claimed;
    if (!cert.claimed) {
        a.denial = Denial::cn_no_mac;
        a.detail = "the CN names no single MAC (or the subject has no single valid CN)";
        return a;
    }
    a.entry = acl ? acl->find(*cert.claimed) : nullptr;

    // A pin names the one certificate this MAC may use, verified or not.
    const bool has_pin = a.entry && a.entry->pin;
    a.pinned = has_pin && cert.fingerprint && *cert.fingerprint == *a.entry->pin;
    if (has_pin && !a.pinned) {
        a.denial = Denial::unverified;
        a.detail = "certificate is not the one pinned on line " + std::to_string(a.entry->line);
        return a;
    }
    if (!cert.verified && !a.pinned) {
        a.denial = Denial::unverified;
        a.detail = "certificate did not verify and is not pinned";
        return a;
    }
    if (acl && !a.entry) {
        a.denial = Denial::not_in_acl;
        return a;
    }
    a.device = cert.claimed;
    return a;
}

}  // namespace polyprov
