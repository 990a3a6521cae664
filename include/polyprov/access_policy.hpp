// Who may fetch what: the device a request comes from, and whether the
// paths it asks for are its own or shared.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/acl.hpp>
#include <polyprov/mac.hpp>
#include <polyprov/mac_pattern.hpp>

namespace polyprov {

// What the path names: only shared files, this device's own, or another's.
enum class PathVerdict { shared, own, foreign };
struct PathCheck {
    PathVerdict verdict;
    std::string offending;   // the match that made it foreign
};
// Every match of `pattern` must be `device` or the shared 000000000000; a
// match that names no valid MAC (a 13-digit run) makes the path foreign.
PathCheck check_path(std::string_view path, Mac device, const MacPattern& pattern);

// The files a phone may write (PUT): a plain name of [A-Za-z0-9._-], not
// starting with '.', ending in .log, .cfg or .xml (any case), and carrying
// `device`'s own MAC. Nothing Apache might run or render as a page (.php,
// .html, .shtml, .cgi) can be uploaded, whatever handlers are configured.
bool may_write(std::string_view name, Mac device, const MacPattern& pattern);

enum class Denial { none, no_cert, unverified, cn_no_mac, not_in_acl, mac_mismatch, not_writable };
// The POLYPROV_DECISION vocabulary: "allow" or "deny:<reason>".
const char* decision_string(Denial denial) noexcept;

// What the TLS layer established about the client.
struct ClientFacts {
    bool has_certificate = false;
    bool verified = false;               // mod_ssl said SUCCESS (a waived expiry included)
    std::optional<Mac> mac;              // from the CN, per the CN pattern
    std::optional<Sha256> fingerprint;   // SHA-256 of the certificate's DER
};

struct AccessDecision {
    Denial denial = Denial::none;
    const AclEntry* entry = nullptr;     // the device's ACL line, when it has one
    std::string detail;                  // for the log line
};

// `acl` may be null (no list: every authenticated device); `paths` are
// checked only when `match_uri` is set.
AccessDecision decide_access(const ClientFacts& client, const Acl* acl, bool match_uri,
                             const std::vector<std::string_view>& paths, const MacPattern& path_pattern);

}  // namespace polyprov
