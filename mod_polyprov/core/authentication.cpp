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
    case Denial::not_shared: return "deny:not-shared";
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
    return authenticate(cert, std::vector<const Acl*>{acl}, acl);
}

Authentication authenticate(const PresentedCertificate& cert, const std::vector<const Acl*>& pin_lists,
                            const Acl* membership) {
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
    // 000000000000 names what every phone shares, FFFFFFFFFFFF every
    // device: neither is one device.
    if (cert.claimed->is_shared() || cert.claimed->value() == 0xFFFFFFFFFFFFull) {
        a.denial = Denial::cn_no_mac;
        a.detail = "the CN names " + cert.claimed->str() + ", which is no single device";
        return a;
    }
    a.entry = membership ? membership->find(*cert.claimed) : nullptr;

    // A pin names the one certificate this MAC may use, verified or not.
    std::optional<std::optional<Sha256>> fingerprint;   // worked out at the first pin
    for (const Acl* list : pin_lists) {
        const AclEntry* entry = list ? list->find(*cert.claimed) : nullptr;
        if (!entry || !entry->pin()) continue;
        if (!fingerprint) fingerprint = cert.fingerprint ? cert.fingerprint() : std::nullopt;
        if (!*fingerprint || **fingerprint != *entry->pin()) {
            a.denial = Denial::unverified;
            a.pinned = false;
            a.detail = "certificate is not the one pinned on line " + std::to_string(entry->line());
            return a;
        }
        a.pinned = true;
    }
    if (!cert.verified && !a.pinned) {
        a.denial = Denial::unverified;
        a.detail = "certificate did not verify and is not pinned";
        return a;
    }
    if (membership && !a.entry) {
        a.denial = Denial::not_in_acl;
        return a;
    }
    a.device = cert.claimed;
    return a;
}

}  // namespace polyprov
