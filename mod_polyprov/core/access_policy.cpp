#include <polyprov/access_policy.hpp>

#include <algorithm>
#include <utility>

#include "hex.hpp"

namespace polyprov {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return lower(x) == lower(y);
           });
}

}  // namespace

namespace {

// An 8.3 short name (vfat, and SMB shares, answer "0004F2~1.CFG" for the
// first long name that starts so): a way to name a file without its MAC.
std::string_view short_name_alias(std::string_view path) noexcept {
    for (std::size_t at = path.find('~'); at != std::string_view::npos; at = path.find('~', at + 1))
        if (at + 1 < path.size() && path[at + 1] >= '0' && path[at + 1] <= '9') return path.substr(at, 2);
    return {};
}

}  // namespace

PathCheck check_path(std::string_view path, Mac device, const MacPattern& pattern) {
    if (const std::string_view alias = short_name_alias(path); !alias.empty())
        return {PathVerdict::foreign, std::string(alias) + " (a short-name alias could stand for any file)"};
    PathCheck result{PathVerdict::shared, {}};
    pattern.each_match(path, [&](const MacPattern::Match& match) {
        if (!match.mac || (*match.mac != device && !match.mac->is_shared())) {
            result = {PathVerdict::foreign, std::string(match.text)};
            return false;
        }
        if (*match.mac == device) result.verdict = PathVerdict::own;
        return true;
    });
    return result;
}

namespace {

// Whether paths[i] is the end of a longer path of the list (or the same as
// an earlier one) and starts a
// component there (the URI at the end of the file it was mapped to, on
// most requests): then every rule that looks at components (module files,
// short-name aliases) finds in it what it finds in that end of the longer
// path, and so does the default MAC pattern, whose matches never span a
// '/' (tests/fuzz/fuzz_default_pattern checks it). A pattern of the
// operator's may look across the '/', or anchor at the start: its paths are
// all scanned.
bool repeated_in_another(const Names& paths, std::size_t i) noexcept {
    const std::string_view tail = paths[i];
    if (tail.empty() || tail.front() != '/') return false;
    for (std::size_t j = 0; j < paths.size(); ++j) {
        const std::string_view other = paths[j];
        const bool covers = other.size() > tail.size() || (other.size() == tail.size() && j < i);  // or the same, earlier
        if (j != i && covers && other.substr(other.size() - tail.size()) == tail) return true;
    }
    return false;
}

}  // namespace

bool names_nothing(std::string_view path) {
    static const MacPattern pattern = MacPattern::compile(MacPattern::kDefault);
    return !names_module_file(path) && short_name_alias(path).empty() &&
           pattern.each_match(path, [](const MacPattern::Match&) { return false; });
}

bool upload_name_allowed(std::string_view name, Mac device) noexcept {
    if (name.size() < 12 + 2 + 4 || name.size() > 255) return false;
    const auto own = Mac::parse(name.substr(0, 12));
    if (!own || *own != device) return false;
    for (std::size_t i = 0; i < 12; ++i)
        if (detail::hex_value(name[i]) < 0) return false;  // 12 digits, no separators
    if (name[12] != '-') return false;
    const std::size_t dot = name.find('.');
    if (dot == std::string_view::npos || dot == 13 || name.find('.', dot + 1) != std::string_view::npos) return false;
    for (std::size_t i = 13; i < dot; ++i) {
        const char c = name[i];
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) return false;
    }
    const std::string_view suffix = name.substr(dot);
    return iequals(suffix, ".log") || iequals(suffix, ".cfg") || iequals(suffix, ".xml");
}

const char* upload_content_type(std::string_view name) noexcept {
    const std::size_t dot = name.rfind('.');
    if (dot != std::string_view::npos && iequals(name.substr(dot), ".xml")) return "application/xml";
    return "text/plain";
}

bool method_may_be_opened(std::string_view method) noexcept {
    return method != "PROPFIND" && method != "MKCOL" && method != "PUT" && method != "GET" && method != "HEAD" &&
           method != "OPTIONS";
}

namespace {

// WebDAV methods that change what is stored (mod_dav deletes a collection
// whole, without asking per member).
bool is_dav_write(std::string_view method) noexcept {
    return method == "DELETE" || method == "MOVE" || method == "COPY" || method == "PROPPATCH" || method == "LOCK" ||
           method == "UNLOCK";
}

}  // namespace

MethodRule method_rule(std::string_view method, bool upload_on, const std::vector<std::string>& opened) {
    if (method == "GET" || method == "HEAD" || method == "OPTIONS") return MethodRule::read;
    if (method == "PUT") return upload_on ? MethodRule::upload : MethodRule::refused;
    if (method_may_be_opened(method) && std::find(opened.begin(), opened.end(), method) != opened.end())
        return is_dav_write(method) ? MethodRule::opened_write : MethodRule::read;
    return MethodRule::refused;
}

bool names_module_file(std::string_view path) noexcept {
    static constexpr std::string_view kPrefix = ".polyprov";
    // Only a dot can start the prefix: jump from dot to dot.
    for (std::size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.', dot + 1)) {
        const bool starts_component = dot == 0 || path[dot - 1] == '/';
        if (starts_component && iequals(path.substr(dot, kPrefix.size()), kPrefix)) return true;
    }
    return false;
}

AccessDecision decide_access(const Authentication& auth, const AccessRequest& request, const MacPattern& path_pattern) {
    AccessDecision d;
    if (auth.denial != Denial::none || !auth.device) {
        d.denial = auth.denial != Denial::none ? auth.denial : Denial::unverified;
        d.detail = auth.detail;
        return d;
    }
    for (std::size_t i = 0; i < request.paths.size(); ++i)
        if (!repeated_in_another(request.paths, i) && names_module_file(request.paths[i])) {
            d.denial = Denial::not_writable;
            d.detail = "the module's own file";
            return d;
        }
    if (request.rule == MethodRule::refused) {
        d.denial = Denial::not_writable;
        d.detail = "method " + std::string(request.method) + " is not allowed here";
        return d;
    }
    if (request.match_uri) {
        for (std::size_t i = 0; i < request.paths.size(); ++i) {
            if (path_pattern.is_default() && repeated_in_another(request.paths, i)) continue;
            const PathCheck check = check_path(request.paths[i], *auth.device, path_pattern);
            if (check.verdict == PathVerdict::foreign) {
                d.denial = Denial::mac_mismatch;
                d.detail = "path names " + check.offending;
                return d;
            }
        }
    }
    // A name is shared only if the operator listed it, unless the file it
    // maps to is the device's own. Judged on the file alone: path info, or
    // a URI that an AliasMatch maps elsewhere, names nothing that is served.
    if (request.shared) {
        if (!request.below) {
            d.denial = Denial::not_shared;
            d.detail = "what it names below PolyProvSharedFiles' section is unknown";
            return d;
        }
        const bool own = request.own_subject &&
                         check_path(*request.own_subject, *auth.device, path_pattern).verdict == PathVerdict::own;
        if (!own && !request.shared->covers(*request.below)) {
            d.denial = Denial::not_shared;
            d.detail = "'" + std::string(*request.below) + "' matches no PolyProvSharedFiles glob";
            return d;
        }
    }
    if (request.rule == MethodRule::upload && !upload_name_allowed(request.upload_name, *auth.device)) {
        d.denial = Denial::not_writable;
        d.detail = "not a name this device may write (<its MAC>-<name>.log, .cfg or .xml)";
        return d;
    }
    if (request.rule == MethodRule::opened_write) {
        bool ok = !request.collection && !request.written_names.empty();
        for (const auto name : request.written_names) ok = ok && upload_name_allowed(name, *auth.device);
        if (!ok) {
            d.denial = Denial::not_writable;
            d.detail = std::string(request.method) + " touches a name this device may not write (only its own "
                       "<MAC>-<name>.log, .cfg or .xml; never a collection)";
            return d;
        }
    }
    return d;
}

namespace {

std::string_view last_component(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

AccessDecision decide_request(const Authentication& auth, RequestFacts facts, const MacPattern& path_pattern) {
    static const std::vector<std::string> none;
    AccessRequest request;
    request.method = facts.method;
    request.rule = method_rule(facts.method, facts.upload_on, facts.opened ? *facts.opened : none);
    request.match_uri = facts.match_uri;
    request.paths = facts.paths;
    request.shared = facts.shared;
    request.below = facts.below;
    request.own_subject = facts.own_subject;
    const bool by_name = request.rule == MethodRule::read || request.rule == MethodRule::opened_write;
    if (by_name && facts.destination_unusable) request.rule = MethodRule::refused;
    else if (by_name && facts.destination) request.paths.push_back(*facts.destination);
    if (request.rule == MethodRule::upload) request.upload_name = facts.target;
    if (request.rule == MethodRule::opened_write) {
        request.written_names.push_back(facts.target);
        if (facts.destination) request.written_names.push_back(last_component(*facts.destination));
        request.collection = facts.target_is_directory || (!facts.uri.empty() && facts.uri.back() == '/');
    }
    return decide_access(auth, request, path_pattern);
}

}  // namespace polyprov
