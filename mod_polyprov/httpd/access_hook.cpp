// Where PolyProvRequireDevice is on, decides every request: which device it
// comes from, whether its method may be used here, whether every path it
// names is the device's own or shared. Decided in the type checker, before
// mod_negotiation's MultiViews can answer from the directory's contents,
// and again in fixups (first among them) once every module has mapped the
// request, for subrequests and internal redirects too, so that neither
// mod_dir's index lookups, ErrorDocument nor mod_rewrite lead around it.

#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"
#include "connection_identity.hpp"
#include "identity_env.hpp"
#include "request_note.hpp"

#include "http_core.h"
#include "http_request.h"
#include "apr_uri.h"

#include <cstring>
#include <string>

#include <polyprov/access_policy.hpp>

namespace polyprov::glue {
namespace {

// Decoded, normalised path of a MOVE or COPY Destination; null when absent
// or unusable (which fails closed: the request is refused).
const char* destination_path(request_rec* r, bool* unusable) {
    const char* header = apr_table_get(r->headers_in, "Destination");
    if (!header) return nullptr;
    apr_uri_t uri{};
    if (apr_uri_parse(r->pool, header, &uri) != APR_SUCCESS || !uri.path) {
        *unusable = true;
        return nullptr;
    }
    char* path = apr_pstrdup(r->pool, uri.path);
    if (ap_unescape_url(path) != OK) {
        *unusable = true;
        return nullptr;
    }
    ap_getparents(path);
    return path;
}

// Everything the request names that could name a device: the decoded,
// normalised URI; the whole file it was mapped to (an Alias or a
// RewriteRule may lead to another file than the URI names, and a directory
// above the file may be named after a phone), less the part its section's
// own path has shown to name nothing; and the path info. A MOVE/COPY
// destination is the core's to add, where the method's rule names one.
Names requested_paths(request_rec* r, const DirConfig* conf) {
    Names paths;
    if (r->uri) paths.push_back(r->uri);
    if (r->filename)
        if (const std::string_view file = checked_part(conf, r->filename); paths.empty() || file != paths.front())
            paths.push_back(file);   // (the same as the URI, mostly: checked once)
    if (r->path_info && *r->path_info) paths.push_back(r->path_info);
    return paths;
}

std::string_view last_component(const char* filename) {
    if (!filename) return {};
    const char* slash = std::strrchr(filename, '/');
    return slash ? std::string_view(slash + 1) : std::string_view(filename);
}

// The request as the core's access check sees it.
RequestFacts facts_of(request_rec* r, const DirConfig* conf) {
    RequestFacts facts;
    facts.method = r->method;
    facts.upload_on = uploads_on(conf);
    facts.opened = &opened_methods(conf);
    facts.match_uri = match_uri(conf);
    facts.paths = requested_paths(r, conf);
    if (const char* destination = destination_path(r, &facts.destination_unusable)) facts.destination = destination;
    facts.target = (r->path_info && *r->path_info) ? std::string_view() : last_component(r->filename);
    facts.target_is_directory = r->finfo.filetype == APR_DIR;
    if (r->uri) facts.uri = facts.paths.front();
    if (conf->shared_files) {
        facts.shared = conf->shared_files;
        const SharedSubject subject = shared_subject(conf, r);
        if (subject.below) facts.below = subject.below;
        if (subject.own) facts.own_subject = subject.own;
    }
    return facts;
}

bool same(const char* a, const char* b) { return a == b || (a && b && std::strcmp(a, b) == 0); }

bool memo_matches(const RequestNote& note, const request_rec* r) {
    return note.decided && note.memo_dir == r->per_dir_config && same(note.memo_method, r->method) &&
           same(note.memo_uri, r->uri) && same(note.memo_filename, r->filename) &&
           same(note.memo_path_info, r->path_info);
}

void remember(RequestNote& note, const request_rec* r) {
    note.memo_dir = r->per_dir_config;
    note.memo_method = r->method;
    note.memo_uri = r->uri;
    note.memo_filename = r->filename;
    note.memo_path_info = r->path_info;
}

// Whether mod_cache is loaded in this generation: set in post_config, in
// the parent, before the children that read it are forked.
bool cache_loaded = true;   // until known: fail closed

// mod_speling answers a GET for a missing file with a redirect to, or a
// page listing, the names closest to it: other phones' files among them.
// Its configuration has been one public layout since httpd 2.0: the flag
// comes first.
bool spelling_would_answer(const request_rec* r) {
    if (r->method_number != M_GET || r->finfo.filetype != APR_NOFILE || r->main) return false;
    // Looked up each time: a restart may load it elsewhere, or not at all.
    module* speling = ap_find_linked_module("mod_speling.c");
    if (!speling) return false;
    const auto* enabled = static_cast<const int*>(ap_get_module_config(r->per_dir_config, speling));
    return enabled && *enabled;
}

int decide(request_rec* r) {
    const DirConfig* conf = dir_config(r);
    // Decided already on the same names and settings (the type checker
    // decides first, fixups again): the same answer.
    const RequestNote* earlier = requires_device(conf) ? find_request_note(r) : nullptr;
    if (earlier && memo_matches(*earlier, r)) return earlier->denial == Denial::none ? DECLINED : HTTP_FORBIDDEN;
    // The module's lock file and temporaries are out of every client's reach.
    if ((uploads_on(conf) || requires_device(conf)) &&
        ((r->uri && names_module_file(r->uri)) || (r->filename && names_module_file(r->filename)))) {
        ap_log_rerror(APLOG_MARK, r->main ? APLOG_DEBUG : APLOG_INFO, 0, r,
                      PP_TAG(201) "denied %s: path %s: the module's own file", r->method, r->uri);
        set_decision(r, decision_string(Denial::not_writable));
        return HTTP_FORBIDDEN;
    }
    if (!requires_device(conf)) return DECLINED;

    RequestNote& note = request_note(r);
    // mod_cache would hand one phone's file to the next client, from its
    // quick handler, before this module is asked. Without it nothing here
    // stores an answer, and no shared cache can sit between a phone and
    // this server (the phone's certificate authenticates the TLS
    // connection itself), so the Expires header no_cache adds to every
    // answer is left out.
    if (cache_loaded) r->no_cache = 1;

    const RequestIdentity id = identify(r, Checkpoint::access);
    if (id.acl_unavailable) {
        // The list may come within seconds: a watcher back, a database's
        // first answer.
        set_decision(r, "deny:error");
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    const AccessDecision d = decide_request(id.auth, facts_of(r, conf), path_pattern(conf));

    ModuleEnv env(r->subprocess_env);
    set_identity_env(r, id.auth, env);
    if (const char* decision = d.decision(); !env.holds(EnvVar::decision, decision))
        env.write(EnvVar::decision, decision);
    note.decision = d.decision();
    note.decided = true;
    note.denial = d.denial;
    note.device = id.auth.device;
    note.claimed = id.auth.claimed;
    note.pinned = id.auth.pinned;
    const char* label = id.auth.entry && id.auth.entry->has_label() ? id.auth.entry->label() : nullptr;
    note.label = !label ? nullptr : note.env_label && std::strcmp(note.env_label, label) == 0
                                        ? note.env_label   // the copy POLYPROV_LABEL was written from
                                        : apr_pstrdup(r->pool, label);
    remember(note, r);
    if (d.denial == Denial::none) return DECLINED;

    // One line per denied request; the subrequests a request makes say it at debug.
    const int level = r->main ? APLOG_DEBUG : APLOG_INFO;
    if (APLOG_R_IS_LEVEL(r, level))
        ap_log_rerror(APLOG_MARK, level, 0, r, PP_TAG(201) "denied %s: MAC %s, path %s: %s%s%s", r->method,
                      id.auth.claimed ? id.auth.claimed->str().c_str() : "-", r->uri, d.reason(),
                      d.detail.empty() ? "" : ", ", d.detail.c_str());
    return HTTP_FORBIDDEN;
}

int fail_closed(request_rec* r, const char* what) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(903) "access check failed, denying: %s", what);
    set_decision(r, "deny:error");
    return HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace

int note_loaded_cache(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec*) noexcept {
    cache_loaded = ap_find_linked_module("mod_cache.c") != nullptr;
    return OK;
}

int check_device_access_early(request_rec* r) noexcept {
    try {
        return decide(r);
    } catch (const std::exception& e) {
        return fail_closed(r, e.what());
    } catch (...) {
        return fail_closed(r, "unknown error");
    }
}

int check_device_access(request_rec* r) noexcept {
    try {
        const int status = decide(r);
        if (status != DECLINED) return status;
        if (requires_device(dir_config(r)) && spelling_would_answer(r)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          PP_TAG(208) "refused GET %s: CheckSpelling is on where PolyProvRequireDevice is on; "
                          "its answer would name other phones' files (turn CheckSpelling off here)",
                          r->uri);
            return HTTP_FORBIDDEN;
        }
        return DECLINED;
    } catch (const std::exception& e) {
        return fail_closed(r, e.what());
    } catch (...) {
        return fail_closed(r, "unknown error");
    }
}

}  // namespace polyprov::glue
