#include "dir_config.hpp"

#include "edge.h"
#include "glue.hpp"

#include <cstdlib>
#include <cstring>
#include <type_traits>

#include <polyprov/content_range.hpp>
#include <polyprov/error.hpp>

namespace polyprov::glue {

const DirConfig* dir_config(const request_rec* r) {
    return static_cast<const DirConfig*>(ap_get_module_config(r->per_dir_config, &polyprov_module));
}

const MacPattern& default_pattern() {
    static const MacPattern pattern = MacPattern::compile(MacPattern::kDefault);
    return pattern;
}

const AccessNote* access_note(const request_rec* r) {
    return static_cast<const AccessNote*>(ap_get_module_config(r->request_config, &polyprov_module));
}

void set_access_note(request_rec* r, bool allowed, std::optional<Mac> mac) {
    static_assert(std::is_trivially_destructible_v<AccessNote>, "lives in r->pool without a cleanup");
    auto* note = new (apr_palloc(r->pool, sizeof(AccessNote))) AccessNote{allowed, mac};
    ap_set_module_config(r->request_config, &polyprov_module, note);
}

std::shared_ptr<const Acl> current_acl(request_rec* r, AclFile& file) {
    AclFile::View view = file.current();
    if (view.reloaded)
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, PP_TAG(202) "reloaded %s: %s", file.path().c_str(),
                      view.reloaded->c_str());
    if (view.failed) ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(203) "%s", view.failed->c_str());
    return std::move(view.acl);
}

namespace {

// The <Directory> a directive sits in, when it is a plain path (not a
// regex, not a <Location>): r->filename below it can be checked too.
const char* directory_section(cmd_parms* cmd) {
    const ap_directive_t* parent = cmd->directive ? cmd->directive->parent : nullptr;
    if (!parent || !cmd->path || strcasecmp(parent->directive, "<Directory") != 0) return nullptr;
    if (parent->args && parent->args[0] == '~') return nullptr;
    return cmd->path;
}

void note_section(cmd_parms* cmd, DirConfig* conf) {
    if (const char* dir = directory_section(cmd)) conf->fs_root = dir;
}

const char* set_pattern(cmd_parms* cmd, const char* directive, const char* regex, const MacPattern** slot) {
    try {
        *slot = pool_owned(cmd->pool, new MacPattern(MacPattern::compile(regex)));
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", directive, e.what());
    }
}

}  // namespace
}  // namespace polyprov::glue

using polyprov::glue::DirConfig;
using polyprov::glue::Tristate;

extern "C" void* polyprov_create_dir_config(apr_pool_t* p, char*) {
    auto* conf = static_cast<DirConfig*>(apr_pcalloc(p, sizeof(DirConfig)));
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
    m->fs_root = add->fs_root ? add->fs_root : base->fs_root;
    m->upload = add->upload != polyprov::glue::unset ? add->upload : base->upload;
    m->upload_max = add->upload_max ? add->upload_max : base->upload_max;
    m->upload_keep = add->upload_keep >= 0 ? add->upload_keep : base->upload_keep;
    return m;
}

extern "C" const char* polyprov_set_require_device(cmd_parms* cmd, void* dir, int flag) {
    auto* conf = static_cast<DirConfig*>(dir);
    conf->require_device = flag ? polyprov::glue::on : polyprov::glue::off;
    polyprov::glue::note_section(cmd, conf);
    return nullptr;
}

extern "C" const char* polyprov_set_match_uri(cmd_parms* cmd, void* dir, int flag) {
    auto* conf = static_cast<DirConfig*>(dir);
    conf->match_uri = flag ? polyprov::glue::on : polyprov::glue::off;
    polyprov::glue::note_section(cmd, conf);
    return nullptr;
}

extern "C" const char* polyprov_set_acl_file(cmd_parms* cmd, void* dir, const char* arg) {
    auto* conf = static_cast<DirConfig*>(dir);
    const char* path = ap_server_root_relative(cmd->pool, arg);
    if (!path) return apr_psprintf(cmd->pool, "PolyProvACLFile: invalid path '%s'", arg);
    try {
        conf->acl = polyprov::glue::pool_owned(cmd->pool, new polyprov::AclFile(path));
        polyprov::glue::note_section(cmd, conf);
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "PolyProvACLFile: %s", e.what());
    }
}

extern "C" const char* polyprov_set_mac_pattern(cmd_parms* cmd, void* dir, const char* regex) {
    return polyprov::glue::set_pattern(cmd, "PolyProvMACPattern", regex, &static_cast<DirConfig*>(dir)->mac_pattern);
}

extern "C" const char* polyprov_set_cn_pattern(cmd_parms* cmd, void* dir, const char* regex) {
    return polyprov::glue::set_pattern(cmd, "PolyProvCNPattern", regex, &static_cast<DirConfig*>(dir)->cn_pattern);
}

extern "C" const char* polyprov_set_upload(cmd_parms*, void* dir, int flag) {
    static_cast<DirConfig*>(dir)->upload = flag ? polyprov::glue::on : polyprov::glue::off;
    return nullptr;
}

extern "C" const char* polyprov_set_upload_max_size(cmd_parms* cmd, void* dir, const char* arg) {
    const auto size = polyprov::parse_byte_size(arg);
    if (!size)
        return apr_psprintf(cmd->pool, "PolyProvUploadMaxSize: '%s' is not a size (a number, optionally "
                                       "followed by K, M or G; powers of 1024)", arg);
    static_cast<DirConfig*>(dir)->upload_max = *size;
    return nullptr;
}

extern "C" const char* polyprov_set_upload_keep(cmd_parms* cmd, void* dir, const char* arg) {
    char* end = nullptr;
    const long keep = std::strtol(arg, &end, 10);
    if (!*arg || *end || keep < 0 || keep > 999)
        return apr_psprintf(cmd->pool, "PolyProvUploadKeep: '%s' is not a number from 0 to 999", arg);
    static_cast<DirConfig*>(dir)->upload_keep = static_cast<int>(keep);
    return nullptr;
}
