#include "server_config.hpp"

#include "glue.hpp"
#include "edge.h"
#include "shared_files.hpp"

#include "http_log.h"

#include <algorithm>

#include <polyprov/error.hpp>

namespace polyprov::glue {

ServerConfig* server_config(const server_rec* s) {
    return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &polyprov_module));
}

namespace {

const char* where(cmd_parms* cmd) {
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
}

// The main server's section lists, then the host's own.
const std::vector<SharedFile<Acl>*>* join(apr_pool_t* p, const std::vector<SharedFile<Acl>*>* base,
                                          const std::vector<SharedFile<Acl>*>* add) {
    if (!base || !add) return add ? add : base;
    auto* both = pool_owned(p, new std::vector<SharedFile<Acl>*>(*base));
    for (auto* file : *add)
        if (std::find(both->begin(), both->end(), file) == both->end()) both->push_back(file);
    return both;
}

}  // namespace

void note_section_acl(cmd_parms* cmd, SharedFile<Acl>* file) {
    ServerConfig* conf = server_config(cmd->server);
    auto* list = const_cast<std::vector<SharedFile<Acl>*>*>(conf->section_acls);
    if (!list) conf->section_acls = list = pool_owned(cmd->pool, new std::vector<SharedFile<Acl>*>);
    if (std::find(list->begin(), list->end(), file) == list->end()) list->push_back(file);
}

}  // namespace polyprov::glue

using polyprov::glue::ServerConfig;

extern "C" void* polyprov_create_server_config(apr_pool_t* p, server_rec*) {
    auto* conf = static_cast<ServerConfig*>(apr_pcalloc(p, sizeof(ServerConfig)));
    conf->accept_expired = polyprov::ExpiryMode::off;
    return conf;
}

extern "C" void* polyprov_merge_server_config(apr_pool_t* p, void* base_v, void* add_v) {
    const auto* base = static_cast<const ServerConfig*>(base_v);
    const auto* add = static_cast<const ServerConfig*>(add_v);
    auto* merged = static_cast<ServerConfig*>(apr_pcalloc(p, sizeof(ServerConfig)));

    const ServerConfig* mode_from = add->accept_expired_set ? add : base;
    merged->accept_expired_set = mode_from->accept_expired_set;
    merged->accept_expired = mode_from->accept_expired;
    merged->accept_expired_where = mode_from->accept_expired_where;

    const ServerConfig* anchors_from = add->anchor_path ? add : base;
    merged->anchor_path = anchors_from->anchor_path;
    merged->anchors = anchors_from->anchors;
    merged->history = add->history ? add->history : base->history;
    merged->section_acls = polyprov::glue::join(p, base->section_acls, add->section_acls);
    return merged;
}

extern "C" const char* polyprov_set_accept_expired(cmd_parms* cmd, void*, const char* word) {
    if (const char* err = ap_check_cmd_context(cmd, NOT_IN_LIMIT)) return err;
    auto* conf = polyprov::glue::server_config(cmd->server);
    const auto mode = polyprov::parse_expiry_mode(word);
    if (!mode)
        return apr_psprintf(cmd->pool, "PolyProvAcceptExpired: '%s' is not one of off, leaf, chain", word);
    conf->accept_expired_set = true;
    conf->accept_expired = *mode;
    conf->accept_expired_where = polyprov::glue::where(cmd);
    return nullptr;
}

extern "C" const char* polyprov_set_trust_anchor_file(cmd_parms* cmd, void*, const char* arg) {
    if (const char* err = ap_check_cmd_context(cmd, NOT_IN_LIMIT)) return err;
    auto* conf = polyprov::glue::server_config(cmd->server);
    const char* path = ap_server_root_relative(cmd->pool, arg);
    if (!path) return apr_psprintf(cmd->pool, "PolyProvTrustAnchorFile: invalid path '%s'", arg);
    try {
        auto anchors = polyprov::TrustAnchors::load_pem_file(path);
        conf->anchors = polyprov::glue::pool_owned(cmd->pool, new polyprov::TrustAnchors(std::move(anchors)));
        conf->anchor_path = path;
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "PolyProvTrustAnchorFile: %s", e.what());
    } catch (...) {
        return apr_psprintf(cmd->pool, "PolyProvTrustAnchorFile: %s: unexpected error", path);
    }
}

extern "C" const char* polyprov_set_revocation_history(cmd_parms* cmd, void*, const char* arg) {
    if (const char* err = ap_check_cmd_context(cmd, NOT_IN_LIMIT)) return err;
    const char* path = ap_server_root_relative(cmd->pool, arg);
    if (!path) return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    try {
        polyprov::glue::server_config(cmd->server)->history = polyprov::glue::shared_history_file(cmd, path);
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
    }
}
