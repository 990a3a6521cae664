#include "dir_config.hpp"

#include "acl_query.hpp"
#include "edge.h"
#include "glue.hpp"
#include "server_config.hpp"
#include "shared_files.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <polyprov/access_policy.hpp>
#include <polyprov/content_range.hpp>
#include <polyprov/duration.hpp>
#include <polyprov/error.hpp>

namespace polyprov::glue {

const DirConfig* dir_config(const request_rec* r) {
    return static_cast<const DirConfig*>(ap_get_module_config(r->per_dir_config, &polyprov_module));
}

const MacPattern& default_pattern() {
    static const MacPattern pattern = MacPattern::compile(MacPattern::kDefault);
    return pattern;
}

const std::vector<std::string>& opened_methods(const DirConfig* d) {
    static const std::vector<std::string> none;
    return d->opened_methods ? *d->opened_methods : none;
}

std::string_view checked_part(const DirConfig* d, const char* filename) {
    const std::string_view file(filename);
    const std::size_t root = d->clean_root_size;
    if (d->clean_root && path_pattern(d).is_default() && file.size() > root && file[root] == '/' &&
        file.compare(0, root, d->clean_root, root) == 0)
        return file.substr(root);
    return file;
}

namespace {

// `path` past its first `depth` components and the '/'s after them; null
// when it has fewer.
const char* past_components(const char* path, int depth) {
    if (!path || *path != '/') return nullptr;   // none, or not a path (proxy:...)
    const char* p = path;
    for (int i = 0; i < depth; ++i) {
        while (*p == '/') ++p;
        if (!*p) return nullptr;
        while (*p && *p != '/') ++p;
    }
    while (*p == '/') ++p;
    return p;
}

}  // namespace

SharedSubject shared_subject(const DirConfig* d, request_rec* r) {
    SharedSubject subject;
    const bool has_info = r->path_info && *r->path_info;
    if (d->shared_root == SharedRoot::uri) {
        // The URI holds its path info. The file it maps to is judged
        // whole: an AliasMatch may map a URI that names the phone to a
        // file that names nobody.
        subject.below = past_components(r->uri, d->shared_root_depth);
        subject.own = r->filename;
        return subject;
    }
    const char* file = past_components(r->filename, d->shared_root_depth);
    if (!file) return subject;
    subject.own = file;
    subject.below = has_info ? apr_pstrcat(r->pool, file, *file ? r->path_info : r->path_info + 1, nullptr) : file;
    return subject;
}

namespace {

// Every PolyProv directive: a setting that applies to some methods only
// (<Limit POST> PolyProvRequireDevice off) would open the others' way in.
const char* check_context(cmd_parms* cmd) { return ap_check_cmd_context(cmd, NOT_IN_LIMIT); }

const char* set_pattern(cmd_parms* cmd, const char* regex, const MacPattern** slot) {
    if (const char* err = check_context(cmd)) return err;
    try {
        *slot = pool_owned(cmd->pool, new MacPattern(MacPattern::compile(regex)));
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
    }
}

const char* set_flag(cmd_parms* cmd, int flag, Tristate* slot) {
    if (const char* err = check_context(cmd)) return err;
    *slot = flag ? on : off;
    return nullptr;
}

}  // namespace
}  // namespace polyprov::glue

using polyprov::glue::DirConfig;

extern "C" void* polyprov_create_dir_config(apr_pool_t* p, char* section) {
    auto* conf = static_cast<DirConfig*>(apr_pcalloc(p, sizeof(DirConfig)));
    if (section) {
        std::string_view root(section);
        if (!root.empty() && root.back() == '/') root.remove_suffix(1);
        try {
            if (polyprov::names_nothing(root)) {
                conf->clean_root = section;
                conf->clean_root_size = root.size();
            }
        } catch (...) {   // then every file is checked whole
        }
    }
    conf->require_device = polyprov::glue::unset;
    conf->match_uri = polyprov::glue::unset;
    conf->upload = polyprov::glue::unset;
    conf->upload_keep = -1;
    return conf;
}

extern "C" void* polyprov_merge_dir_config(apr_pool_t* p, void* base_v, void* add_v) {
    const auto* base = static_cast<const DirConfig*>(base_v);
    const auto* add = static_cast<const DirConfig*>(add_v);
    auto* m = static_cast<DirConfig*>(apr_pcalloc(p, sizeof(DirConfig)));
    m->require_device = add->require_device != polyprov::glue::unset ? add->require_device : base->require_device;
    m->match_uri = add->match_uri != polyprov::glue::unset ? add->match_uri : base->match_uri;
    m->acl = add->acl ? add->acl : base->acl;
    m->mac_pattern = add->mac_pattern ? add->mac_pattern : base->mac_pattern;
    m->cn_pattern = add->cn_pattern ? add->cn_pattern : base->cn_pattern;
    m->upload = add->upload != polyprov::glue::unset ? add->upload : base->upload;
    m->upload_max = add->upload_max ? add->upload_max : base->upload_max;
    m->upload_keep = add->upload_keep >= 0 ? add->upload_keep : base->upload_keep;
    m->opened_methods = add->opened_methods ? add->opened_methods : base->opened_methods;
    const bool inner = add->clean_root && (!base->clean_root || add->clean_root_size >= base->clean_root_size);
    m->clean_root = inner ? add->clean_root : base->clean_root;
    m->clean_root_size = inner ? add->clean_root_size : base->clean_root_size;
    const DirConfig* shared = add->shared_files ? add : base;
    m->shared_files = shared->shared_files;
    m->shared_root = shared->shared_root;
    m->shared_root_depth = shared->shared_root_depth;
    return m;
}

extern "C" const char* polyprov_set_require_device(cmd_parms* cmd, void* dir, int flag) {
    return polyprov::glue::set_flag(cmd, flag, &static_cast<DirConfig*>(dir)->require_device);
}

extern "C" const char* polyprov_set_match_uri(cmd_parms* cmd, void* dir, int flag) {
    return polyprov::glue::set_flag(cmd, flag, &static_cast<DirConfig*>(dir)->match_uri);
}

extern "C" const char* polyprov_set_upload(cmd_parms* cmd, void* dir, int flag) {
    return polyprov::glue::set_flag(cmd, flag, &static_cast<DirConfig*>(dir)->upload);
}

extern "C" const char* polyprov_set_acl_file(cmd_parms* cmd, void* dir, const char* arg) {
    if (const char* err = polyprov::glue::check_context(cmd)) return err;
    const char* path = ap_server_root_relative(cmd->pool, arg);
    if (!path) return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    if (static_cast<DirConfig*>(dir)->acl_query)
        return apr_psprintf(cmd->pool, "%s: this section has a PolyProvACLQuery already: one list a section",
                            cmd->cmd->name);
    try {
        auto* file = polyprov::glue::shared_acl_file(cmd, path);
        static_cast<DirConfig*>(dir)->acl = file;
        if (cmd->path) polyprov::glue::note_section_acl(cmd, file);
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
    }
}

extern "C" const char* polyprov_set_acl_query(cmd_parms* cmd, void* dir_v, const char* sql) {
    if (const char* err = polyprov::glue::check_context(cmd)) return err;
    auto* dir = static_cast<DirConfig*>(dir_v);
    if (dir->acl)
        return apr_psprintf(cmd->pool, "%s: this section has a %s already: one list a section", cmd->cmd->name,
                            dir->acl_query ? "PolyProvACLQuery" : "PolyProvACLFile");
    polyprov::dbd::Source source;
    if (const char* err = polyprov::glue::dbd_source_for(cmd, sql, &source)) return err;
    try {
        const std::string name = std::string(cmd->cmd->name) + " at " + (cmd->directive ? cmd->directive->filename : "?") +
                                 ":" + std::to_string(cmd->directive ? cmd->directive->line_num : 0);
        dir->acl_query = polyprov::glue::shared_acl_query(cmd, std::move(source), name);
        dir->acl = dir->acl_query->list;
        if (cmd->path) polyprov::glue::note_section_acl(cmd, dir->acl);
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
    }
}

extern "C" const char* polyprov_set_acl_refresh(cmd_parms* cmd, void* dir_v, const char* arg) {
    if (const char* err = polyprov::glue::check_context(cmd)) return err;
    auto* query = static_cast<DirConfig*>(dir_v)->acl_query;
    if (!query)
        return apr_psprintf(cmd->pool, "%s: must follow the PolyProvACLQuery it sets, in the same section",
                            cmd->cmd->name);
    const auto seconds = polyprov::parse_duration(arg);
    if (!seconds || *seconds < 1 || *seconds > 86400)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a duration from 1s to 1d (a number, optionally followed "
                                       "by s, m, h or d)", cmd->cmd->name, arg);
    // Sections that share one query share its refresh: the shortest asked for.
    const std::chrono::seconds interval{*seconds};
    query->interval = query->interval_set ? std::min(query->interval, interval) : interval;
    query->interval_set = true;
    return nullptr;
}

extern "C" const char* polyprov_set_mac_pattern(cmd_parms* cmd, void* dir, const char* regex) {
    return polyprov::glue::set_pattern(cmd, regex, &static_cast<DirConfig*>(dir)->mac_pattern);
}

extern "C" const char* polyprov_set_cn_pattern(cmd_parms* cmd, void* dir, const char* regex) {
    return polyprov::glue::set_pattern(cmd, regex, &static_cast<DirConfig*>(dir)->cn_pattern);
}

extern "C" const char* polyprov_set_upload_max_size(cmd_parms* cmd, void* dir, const char* arg) {
    if (const char* err = polyprov::glue::check_context(cmd)) return err;
    const auto size = polyprov::parse_byte_size(arg);
    if (!size)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a size (a number, optionally "
                                       "followed by K, M or G; powers of 1024)", cmd->cmd->name, arg);
    static_cast<DirConfig*>(dir)->upload_max = *size;
    return nullptr;
}

extern "C" const char* polyprov_set_upload_keep(cmd_parms* cmd, void* dir, const char* arg) {
    if (const char* err = polyprov::glue::check_context(cmd)) return err;
    char* end = nullptr;
    const long keep = std::strtol(arg, &end, 10);
    if (!*arg || *end || keep < 0 || keep > 999)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number from 0 to 999", cmd->cmd->name, arg);
    static_cast<DirConfig*>(dir)->upload_keep = static_cast<int>(keep);
    return nullptr;
}

extern "C" const char* polyprov_set_allow_methods(cmd_parms* cmd, void* dir, const char* method) {
    if (const char* err = polyprov::glue::check_context(cmd)) return err;
    for (const char* c = method; *c; ++c)
        if (!((*c >= 'A' && *c <= 'Z') || *c == '-' || *c == '_'))
            return apr_psprintf(cmd->pool, "%s: '%s' is not a method name (upper case, as clients send it)",
                                cmd->cmd->name, method);
    if (!polyprov::method_may_be_opened(method))
        return apr_psprintf(cmd->pool,
                            "%s: %s cannot be opened: %s", cmd->cmd->name, method,
                            std::strcmp(method, "PROPFIND") == 0
                                ? "its answer lists a directory, naming other phones' files"
                            : std::strcmp(method, "MKCOL") == 0
                                ? "it makes directories where phones' uploads go"
                                : "the module always decides it (GET, HEAD, OPTIONS by the read rule, PUT by "
                                  "PolyProvUpload)");
    auto* conf = static_cast<DirConfig*>(dir);
    try {
        // Each section starts its own list; the method is added to it.
        auto* list = const_cast<std::vector<std::string>*>(conf->opened_methods);
        if (!list) conf->opened_methods = list = polyprov::glue::pool_owned(cmd->pool, new std::vector<std::string>);
        list->push_back(method);
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
    }
}

namespace polyprov::glue {
namespace {

bool named(const ap_directive_t* d, const char* name) { return ap_cstr_casecmp(d->directive, name) == 0; }

// The section a directive stands in, past the conditionals that only
// decide whether it is read at all; null at server or virtual host level.
const ap_directive_t* enclosing_section(const cmd_parms* cmd) {
    for (const ap_directive_t* d = cmd->directive ? cmd->directive->parent : nullptr; d; d = d->parent) {
        for (const char* transparent : {"<IfModule", "<IfDefine", "<IfVersion", "<IfFile", "<IfDirective", "<IfSection"})
            if (named(d, transparent)) goto next;
        return named(d, "<VirtualHost") ? nullptr : d;
    next:;
    }
    return nullptr;
}

int components(const char* path) {
    int n = 0;
    for (const char* p = path; *p;) {
        while (*p == '/') ++p;
        if (!*p) break;
        ++n;
        while (*p && *p != '/') ++p;
    }
    return n;
}

// Where the globs of a PolyProvSharedFiles in this section start; an error
// for a section whose paths have no "below" (a regular expression, <Files>,
// <If>).
const char* locate_shared_root(cmd_parms* cmd, DirConfig* conf) {
    const ap_directive_t* section = enclosing_section(cmd);
    if (!section) {
        conf->shared_root = SharedRoot::uri;
        conf->shared_root_depth = 0;
        return nullptr;
    }
    const bool directory = named(section, "<Directory");
    const bool location = named(section, "<Location");
    // As core reads the section's arguments: a first word "~", quoted or
    // not, makes the path a regular expression.
    const char* args = section->args ? section->args : "";
    const char* first = ap_getword_conf(cmd->temp_pool, &args);
    const bool regex = first && std::strcmp(first, "~") == 0;
    if (!(directory || location) || regex || !cmd->path)
        return apr_psprintf(cmd->pool,
                            "%s: only in a <Directory> or <Location> with a plain path (or outside any section), "
                            "not in %s%s: its globs name what lies below the section's path",
                            cmd->cmd->name, section->directive, regex ? " ~" : ">");
    // A <Location> applies to the URIs its path matches whole when it has
    // wildcards, and to none when it is not normalised: no "below" to speak of.
    if (location && (std::strpbrk(cmd->path, "*?[") || std::strstr(cmd->path, "//") ||
                     std::strstr(cmd->path, "/./") || std::strstr(cmd->path, "/../")))
        return apr_psprintf(cmd->pool,
                            "%s: not in <Location %s>: give it a plain, normalised path (no wildcards, no //, "
                            "no . or .. segments), or use <Directory>",
                            cmd->cmd->name, cmd->path);
    conf->shared_root = directory ? SharedRoot::file : SharedRoot::uri;
    conf->shared_root_depth = components(cmd->path);
    return nullptr;
}

}  // namespace
}  // namespace polyprov::glue

extern "C" const char* polyprov_set_shared_files(cmd_parms* cmd, void* dir, const char* glob) {
    if (const char* err = polyprov::glue::check_context(cmd)) return err;
    auto* conf = static_cast<DirConfig*>(dir);
    try {
        // Each section starts its own list; the glob is added to it.
        auto* names = const_cast<polyprov::SharedNames*>(conf->shared_files);
        if (!names) {
            if (const char* err = polyprov::glue::locate_shared_root(cmd, conf)) return err;
            conf->shared_files = names = polyprov::glue::pool_owned(cmd->pool, new polyprov::SharedNames);
        }
        names->add(glob);
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
    }
}
