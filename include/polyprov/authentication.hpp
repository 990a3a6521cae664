// Which device, if any, a client certificate authenticates. This is the one
// rule behind POLYPROV_MAC, the access decision and the fleet view: every
// hook asks it, none repeats it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/acl.hpp>
#include <polyprov/denial.hpp>
#include <polyprov/mac.hpp>
#include <polyprov/mac_pattern.hpp>
#include <polyprov/sha256.hpp>

namespace polyprov {

// What the TLS layer established about the client's certificate.
struct PresentedCertificate {
    bool present = false;
    bool verified = false;                 // mod_ssl said SUCCESS (a waived expiry included)
    std::optional<Mac> claimed;            // the one MAC its CN names (claimed_mac), if any
    // SHA-256 of its DER, asked for only when a pin must be compared (a
    // digest costs more than a keep-alive request's whole access check,
    // and most lists pin nothing). Empty, or returning null: no digest,
    // which never matches a pin.
    std::function<std::optional<Sha256>()> fingerprint;
};

// The MAC a certificate's CN claims: the CN must be the subject's only one
// (single_common_name) and name exactly one MAC by `cn_pattern`.
std::optional<Mac> claimed_mac(const std::optional<std::string>& single_cn, const MacPattern& cn_pattern);

struct Authentication {
    std::optional<Mac> device;     // the device authenticated: set only when denial is none
    std::optional<Mac> claimed;    // what the CN claims, for logs (POLYPROV_CLAIMED_MAC)
    const AclEntry* entry = nullptr;   // the claimed MAC's ACL line, when it has one
    bool pinned = false;           // admitted by its pin rather than by verification
    Denial denial = Denial::none;
    std::string detail;            // for the log line
};

// A certificate authenticates the MAC its CN claims when it verified or is
// the certificate pinned to that MAC, and, when a list is given, the MAC is
// on it. A MAC pinned to one certificate is never authenticated by another,
// verified or not. `acl` may be null (no list).
Authentication authenticate(const PresentedCertificate& cert, const Acl* acl);

// The same rule with the pins of several lists and membership in one (or
// none): for where a request is first read, before its <Directory> and so
// its own list are known. A pin in any of `pin_lists` binds the MAC to its
// certificate; `membership` may be null (then membership is left to the
// list of the request's directory).
Authentication authenticate(const PresentedCertificate& cert, const std::vector<const Acl*>& pin_lists,
                            const Acl* membership);

}  // namespace polyprov
