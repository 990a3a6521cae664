// Per-directory configuration: who may fetch and write what below a <Directory>.
#pragma once

#include "httpd.h"
#include "http_config.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/acl_file.hpp>
#include <polyprov/mac_pattern.hpp>
#include <polyprov/shared_names.hpp>

namespace polyprov::glue {

struct AclQuery;

enum Tristate : signed char { unset = -1, off = 0, on = 1 };
enum class SharedRoot : signed char { uri, file };

struct DirConfig {
    Tristate require_device;      // default: on when an ACL file is given, else off
    Tristate match_uri;           // default on
    AclFile* acl;                 // null: no list; owned by the configuration's registry
    AclQuery* acl_query;          // the section's own PolyProvACLQuery (configuration time only)
    const MacPattern* mac_pattern;  // null: MacPattern::kDefault
    const MacPattern* cn_pattern;   // null: MacPattern::kDefault
    Tristate upload;              // default off
    std::uint64_t upload_max;     // 0: unset (kDefaultUploadMax)
    int upload_keep;              // -1: unset (kDefaultUploadKeep)
    const std::vector<std::string>* opened_methods;   // PolyProvAllowMethods; null: none
    // The section's own path without its last '/', when names_nothing() holds
    // for it (null otherwise): a file below it is checked from that '/' on
    // with the default pattern. Of nested sections, the longest.
    const char* clean_root;
    std::size_t clean_root_size;
    // PolyProvSharedFiles (null: unset) and where its globs start: so many
    // components into the mapped file's path (given in a <Directory>) or
    // into the URI (in a <Location>, or outside any section).
    const SharedNames* shared_files;
    SharedRoot shared_root;
    int shared_root_depth;
};

inline constexpr std::uint64_t kDefaultUploadMax = 10ull << 20;
inline constexpr int kDefaultUploadKeep = 5;

const DirConfig* dir_config(const request_rec* r);
const MacPattern& default_pattern();

// An allow-list means devices are required, unless switched off explicitly
// (a bootstrap directory below one with a list).
inline bool requires_device(const DirConfig* d) {
    return d->require_device == unset ? d->acl != nullptr : d->require_device == on;
}
inline bool uploads_on(const DirConfig* d) { return d->upload == on; }
inline bool match_uri(const DirConfig* d) { return d->match_uri != off; }
inline const MacPattern& path_pattern(const DirConfig* d) { return d->mac_pattern ? *d->mac_pattern : default_pattern(); }
inline const MacPattern& cn_pattern(const DirConfig* d) { return d->cn_pattern ? *d->cn_pattern : default_pattern(); }
const std::vector<std::string>& opened_methods(const DirConfig* d);
// What PolyProvSharedFiles judges a request on: what it names below the
// section, with its path info (null where it does not lie below it), and
// the mapped file the device's own is judged on, without path info (null
// where there is none).
struct SharedSubject {
    const char* below = nullptr;
    const char* own = nullptr;
};
SharedSubject shared_subject(const DirConfig* d, request_rec* r);
// What of `filename` the path rule must look at under `d`: all of it, or
// with the default pattern, what follows its section's clean root.
std::string_view checked_part(const DirConfig* d, const char* filename);

}  // namespace polyprov::glue
