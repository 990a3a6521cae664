// The fixups hook: where PolyProvRequireDevice is on, establishes the
// device behind the request and whether the path is its own or shared.
// Runs for subrequests and internal redirects too, so neither mod_dir's
// index lookups, ErrorDocument nor mod_rewrite lead around it.

#include "client_facts.hpp"
#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"

#include "http_core.h"

#include <cstring>
#include <vector>

#include <polyprov/access_policy.hpp>

namespace polyprov::glue {
namespace {

// What the request asks for, in every form the policy must check: the
// decoded, normalised URI, and the file it was mapped to (an Alias or a
// RewriteRule may name another file than the URI does).
std::vector<std::string_view> requested_paths(request_rec* r, const DirConfig* conf) {
    std::vector<std::string_view> paths;
    if (r->uri) paths.emplace_back(r->uri);
    if (r->filename) {
        // Below the <Directory> the settings came from, or below the
        // DocumentRoot; anywhere else (an Alias, a RewriteRule to a path of
        // its own) the whole file name, so a MAC cannot hide above the root.
        std::string_view file(r->filename);
        const std::string_view roots[] = {conf->fs_root ? conf->fs_root : "", ap_document_root(r)};
        std::string_view below = file;
        for (const std::string_view root : roots)
            if (!root.empty() && file.substr(0, root.size()) == root && file.size() - root.size() < below.size())
                below = file.substr(root.size());
        paths.push_back(below);
    }
    if (r->path_info && *r->path_info) paths.emplace_back(r->path_info);
    return paths;
}

}  // namespace

int check_device_access(request_rec* r) noexcept {
    try {
        const DirConfig* conf = dir_config(r);
        // An allow-list means devices are required, unless switched off
        // explicitly (a bootstrap directory below one with a list).
        if (!is_on(conf->require_device, conf->acl != nullptr)) return DECLINED;
        r->no_cache = 1;  // a cache would hand one phone's file to the next client

        ClientFacts client;
        if (const CertificateFacts* cert = certificate_facts(r)) {
            client.has_certificate = true;
            const char* verify = ssl_var(r, "SSL_CLIENT_VERIFY");
            client.verified = verify && std::strcmp(verify, "SUCCESS") == 0;
            client.mac = device_mac_from_cn(cert->cn, cn_pattern(conf));
            client.fingerprint = cert->fingerprint;
        }
        std::shared_ptr<const Acl> acl = conf->acl ? current_acl(r, *conf->acl) : nullptr;
        const AccessDecision d =
            decide_access(client, acl.get(), is_on(conf->match_uri, true), requested_paths(r, conf), path_pattern(conf));

        if (client.mac) apr_table_set(r->subprocess_env, "POLYPROV_MAC", client.mac->str().c_str());
        if (d.entry && !d.entry->label.empty()) apr_table_set(r->subprocess_env, "POLYPROV_LABEL", d.entry->label.c_str());
        apr_table_setn(r->subprocess_env, "POLYPROV_DECISION", decision_string(d.denial));
        set_access_note(r, d.denial == Denial::none, client.mac);
        if (d.denial == Denial::none) return DECLINED;

        // One line per denied request; the subrequests a request makes say it at debug.
        const int level = r->main ? APLOG_DEBUG : APLOG_INFO;
        if (APLOG_R_IS_LEVEL(r, level))
            ap_log_rerror(APLOG_MARK, level, 0, r, PP_TAG(201) "denied %s: MAC %s, path %s: %s%s%s",
                          r->method, client.mac ? client.mac->str().c_str() : "-", r->uri,
                          decision_string(d.denial) + 5, d.detail.empty() ? "" : ", ", d.detail.c_str());
        return HTTP_FORBIDDEN;
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(903) "access check failed, denying: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(903) "access check failed, denying");
    }
    apr_table_setn(r->subprocess_env, "POLYPROV_DECISION", "deny:error");
    return HTTP_INTERNAL_SERVER_ERROR;  // fail closed
}

}  // namespace polyprov::glue
