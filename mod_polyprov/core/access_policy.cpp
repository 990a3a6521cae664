#include <polyprov/access_policy.hpp>

namespace polyprov {

PathCheck check_path(std::string_view path, Mac device, const MacPattern& pattern) {
    PathCheck result{PathVerdict::shared, {}};
    for (const auto& match : pattern.find_all(path)) {
        if (!match.mac || (*match.mac != device && !match.mac->is_shared()))
            return {PathVerdict::foreign, std::string(match.text)};
        if (*match.mac == device) result.verdict = PathVerdict::own;
    }
    return result;
}

bool may_write(std::string_view name, Mac device, const MacPattern& pattern) {
    if (name.empty() || name.front() == '.') return false;
    for (const char c : name) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    const std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos) return false;
    std::string suffix(name.substr(dot));
    for (char& c : suffix) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (suffix != ".log" && suffix != ".cfg" && suffix != ".xml") return false;
    return check_path(name, device, pattern).verdict == PathVerdict::own;
}

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

AccessDecision decide_access(const ClientFacts& client, const Acl* acl, bool match_uri,
                             const std::vector<std::string_view>& paths, const MacPattern& path_pattern) {
    AccessDecision d;
    if (!client.has_certificate) {
        d.denial = Denial::no_cert;
        return d;
    }
    if (!client.mac) {
        d.denial = Denial::cn_no_mac;
        return d;
    }
    d.entry = acl ? acl->find(*client.mac) : nullptr;

    // A pin names the one certificate this MAC may use, verified or not.
    const bool pinned = d.entry && d.entry->pin && client.fingerprint && *client.fingerprint == *d.entry->pin;
    if (d.entry && d.entry->pin && !pinned) {
        d.denial = Denial::unverified;
        d.detail = "certificate is not the one pinned on line " + std::to_string(d.entry->line);
        return d;
    }
    if (!client.verified && !pinned) {
        d.denial = Denial::unverified;
        d.detail = "certificate did not verify and is not pinned";
        return d;
    }
    if (acl && !d.entry) {
        d.denial = Denial::not_in_acl;
        return d;
    }
    if (match_uri) {
        for (const auto path : paths) {
            const PathCheck check = check_path(path, *client.mac, path_pattern);
            if (check.verdict == PathVerdict::foreign) {
                d.denial = Denial::mac_mismatch;
                d.detail = "path names " + check.offending;
                return d;
            }
        }
    }
    return d;
}

}  // namespace polyprov
