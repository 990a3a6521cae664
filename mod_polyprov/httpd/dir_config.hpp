// Per-directory configuration: who may fetch what below a <Directory>.
#pragma once

#include "httpd.h"
#include "http_config.h"

#include <cstdint>
#include <memory>
#include <new>
#include <optional>

#include <polyprov/acl_file.hpp>
#include <polyprov/mac_pattern.hpp>

namespace polyprov::glue {

enum Tristate : signed char { unset = -1, off = 0, on = 1 };

struct DirConfig {
    Tristate require_device;      // default off
    Tristate match_uri;           // default on
    AclFile* acl;                 // null: no list; owned by the config pool
    const MacPattern* mac_pattern;  // null: MacPattern::kDefault
    const MacPattern* cn_pattern;   // null: MacPattern::kDefault
    const char* fs_root;          // the <Directory> path the settings came from, when one
    Tristate upload;              // default off
    std::uint64_t upload_max;     // 0: unset (kDefaultUploadMax)
    int upload_keep;              // -1: unset (kDefaultUploadKeep)
};

inline constexpr std::uint64_t kDefaultUploadMax = 10ull << 20;
inline constexpr int kDefaultUploadKeep = 5;

// What the access check decided, for the upload handler (r->request_config).
struct AccessNote {
    bool allowed;
    std::optional<Mac> mac;       // the device
};
const AccessNote* access_note(const request_rec* r);
void set_access_note(request_rec* r, bool allowed, std::optional<Mac> mac);

const DirConfig* dir_config(const request_rec* r);
const MacPattern& default_pattern();

// The directory's ACL as it is now, logging a reload or a refused reload
// (file:line:why) the one time it happens in this process.
std::shared_ptr<const Acl> current_acl(request_rec* r, AclFile& file);

inline bool is_on(Tristate t, bool fallback) { return t == unset ? fallback : t == on; }
inline const MacPattern& path_pattern(const DirConfig* d) { return d->mac_pattern ? *d->mac_pattern : default_pattern(); }
inline const MacPattern& cn_pattern(const DirConfig* d) { return d->cn_pattern ? *d->cn_pattern : default_pattern(); }

}  // namespace polyprov::glue
