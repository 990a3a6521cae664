// What an authenticated device may do: which methods, which paths, which
// file names it may write.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/authentication.hpp>
#include <polyprov/denial.hpp>
#include <polyprov/mac.hpp>
#include <polyprov/mac_pattern.hpp>
#include <polyprov/shared_names.hpp>

namespace polyprov {

// The few forms of what a request names (a URI, the file it maps to, path
// info, a Destination), held in place: every request builds one, and a
// heap allocation for four pointers cost more than the check that reads
// them (perf, bench/RESULTS.md).
class Names {
public:
    // One for each form above: a fifth form added to the glue needs room
    // here, or every request that has it fails closed (500).
    static constexpr std::size_t kCapacity = 4;
    Names() = default;
    Names(std::initializer_list<std::string_view> names) {
        for (const auto name : names) push_back(name);
    }
    void push_back(std::string_view name) {
        if (size_ == kCapacity) throw std::length_error("more names than a request has");
        items_[size_++] = name;
    }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::string_view operator[](std::size_t i) const noexcept { return items_[i]; }
    std::string_view front() const noexcept { return items_[0]; }
    const std::string_view* begin() const noexcept { return items_.data(); }
    const std::string_view* end() const noexcept { return items_.data() + size_; }

private:
    std::array<std::string_view, kCapacity> items_{};
    std::size_t size_ = 0;
};

// What the path names: only shared files, this device's own, or another's.
enum class PathVerdict { shared, own, foreign };
struct PathCheck {
    PathVerdict verdict;
    std::string offending;   // the match that made it foreign
};
// Every match of `pattern` must be `device` or the shared 000000000000; a
// match that names no valid MAC (a 13-digit run) makes the path foreign.
PathCheck check_path(std::string_view path, Mac device, const MacPattern& pattern);

// The names a phone may write (PUT): its own MAC as 12 hex digits, '-', a
// name of [A-Za-z0-9_-], then .log, .cfg or .xml (any case), and no other
// dot: <mac>-app.log, <mac>-phone.cfg, <mac>-calls.xml. Never <mac>.cfg
// (the operator's config for the phone) nor <mac>.log; nothing that a
// server might run or render as a page, whatever its handlers and MIME
// types say (mod_mime reads every extension of a name).
bool upload_name_allowed(std::string_view name, Mac device) noexcept;

// The content type an upload directory serves a file as, whatever
// mime.types says: what phones write is data, never a page.
const char* upload_content_type(std::string_view name) noexcept;

// How a method is decided where devices are required.
enum class MethodRule {
    read,          // GET, HEAD, OPTIONS, and opened methods that are not WebDAV writes: the path rule
    upload,        // PUT where uploads are on: the path rule and the upload name rule
    opened_write,  // an opened WebDAV write (DELETE, MOVE, COPY, PROPPATCH, LOCK, UNLOCK): the path
                   // rule, and every name it touches (target, Destination) is one the device may
                   // upload; never a collection
    refused,       // everything else that writes or lists (DELETE, MOVE, PROPFIND, POST...)
};
// `opened` lists the methods PolyProvAllowMethods opened (upper case).
// PUT is an upload only where uploads are on, and refused elsewhere.
MethodRule method_rule(std::string_view method, bool upload_on, const std::vector<std::string>& opened);
// Methods that list a collection (PROPFIND) or make one (MKCOL) can never
// be opened: the first would name other phones' files, the second leaves a
// directory where an upload goes.
bool method_may_be_opened(std::string_view method) noexcept;

// True for a path with a component the module keeps for itself (its lock
// file and upload temporaries, ".polyprov*"): no method ever reaches them.
bool names_module_file(std::string_view path) noexcept;

// True when nothing in `path` concerns the path rule under the default MAC
// pattern: no match, no module file, no short-name alias. Where a request's
// file lies below such a directory (at a '/'), the part after it is all
// there is to check: the default pattern's matches never span a '/'.
bool names_nothing(std::string_view path);

struct AccessRequest {
    MethodRule rule = MethodRule::read;
    std::string_view method;                 // for the log line
    bool match_uri = true;                   // PolyProvMatchURI
    Names paths;                             // every form of what is asked for (URI, mapped file, ...)
    std::string_view upload_name;            // for MethodRule::upload: the last component of the target
    Names written_names;                     // for opened_write: the target's and the Destination's
    bool collection = false;                 // the target is a directory
    // PolyProvSharedFiles: where set, what the request names below its
    // section (nullopt: unknown, which fails closed) must be one of these
    // names, unless the file it maps to names the device itself
    // (`own_subject`: the mapped file, without path info; nullopt: none).
    const SharedNames* shared = nullptr;
    std::optional<std::string_view> below;
    std::optional<std::string_view> own_subject;
};

struct AccessDecision {
    Denial denial = Denial::none;
    std::string detail;                      // for the log line

    const char* decision() const noexcept { return decision_string(denial); }   // POLYPROV_DECISION
    const char* reason() const noexcept { return denial_reason(denial); }       // the log line's
};

// The device `auth` authenticated may make `request`. Paths are checked
// only under match_uri; module files never pass.
AccessDecision decide_access(const Authentication& auth, const AccessRequest& request, const MacPattern& path_pattern);

// One request as the access check sees it, gathered by the glue from the
// request and its directory's settings; the rule for its method is worked
// out here.
struct RequestFacts {
    std::string_view method;
    bool upload_on = false;                              // PolyProvUpload
    const std::vector<std::string>* opened = nullptr;    // PolyProvAllowMethods; null: none
    bool match_uri = true;                               // PolyProvMatchURI
    Names paths;                                         // URI (first), mapped file, path info
    std::optional<std::string_view> destination;         // a Destination header's decoded path
    bool destination_unusable = false;                   // one that does not parse: refused where the rule reads
                                                         // or writes by name (GET, opened methods)
    std::string_view target;                             // the mapped file's last component; empty with path info
    bool target_is_directory = false;
    std::string_view uri;                                // ends with '/': the target is a collection
    const SharedNames* shared = nullptr;                 // PolyProvSharedFiles; null: unset
    std::optional<std::string_view> below;               // the path below the globs' section, with path info
    std::optional<std::string_view> own_subject;         // the mapped file, as the device's own is judged on
};

// decide_access for `request`: its method's rule, its Destination among the
// paths where the rule reads or writes by name, the names it writes.
AccessDecision decide_request(const Authentication& auth, RequestFacts request, const MacPattern& path_pattern);

}  // namespace polyprov
