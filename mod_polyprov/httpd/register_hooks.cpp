// Wires the glue's hooks into httpd and mod_ssl.

#include "edge.h"
#include "glue.hpp"
#include "hooks.hpp"
#include "shared_files.hpp"
#include "ssl_init_hook.h"

#include "http_request.h"
#include "http_protocol.h"
#include "mpm_common.h"

extern "C" void polyprov_register_hooks(apr_pool_t*) {
    using namespace polyprov::glue;
    ap_hook_check_config(check_waiver_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_config(start_file_watcher, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_monitor(watch_the_watcher, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_config(note_loaded_cache, nullptr, nullptr, APR_HOOK_MIDDLE);
    // Before mod_setenvif's server-wide SetEnvIf, which runs here too.
    ap_hook_post_read_request(set_certificate_env, nullptr, nullptr, APR_HOOK_FIRST);
    // Before mod_negotiation's MultiViews answers from the directory.
    static const char* const before_negotiation[] = {"mod_negotiation.c", nullptr};
    ap_hook_type_checker(check_device_access_early, nullptr, before_negotiation, APR_HOOK_FIRST);
    // Before anything else in fixups: a certificate that arrived in mod_ssl's
    // access checker (renegotiation) is held to the request's own host too.
    ap_hook_fixups(recheck_waiver_scope, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
    // First among fixups: deny before anything else acts on the request
    // (mod_speling, mod_dav's own checks, handlers' fixups).
    ap_hook_fixups(check_device_access, nullptr, nullptr, APR_HOOK_FIRST);
    // After mod_mime has typed the file: uploads are data.
    ap_hook_fixups(serve_uploads_as_data, nullptr, nullptr, APR_HOOK_MIDDLE);
    // Before mod_dav and the default handler (which would answer PUT with 405).
    ap_hook_handler(handle_upload, nullptr, nullptr, APR_HOOK_FIRST);
    // Optional: run only when mod_ssl is loaded, whatever the LoadModule order.
    APR_OPTIONAL_HOOK(ssl, init_server, install_waiver, nullptr, nullptr, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ssl, pre_handshake, note_tls_connection, nullptr, nullptr, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ssl, init_server, log_crl_freshness, nullptr, nullptr, APR_HOOK_MIDDLE);
    // The counters ?metrics shows: attached in every generation, set to zero
    // where the MPM makes its scoreboard anew (not on a graceful restart).
    ap_hook_post_config(attach_server_counters, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_pre_mpm(reset_server_counters, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(count_decision, nullptr, nullptr, APR_HOOK_MIDDLE);
    register_fleet_hooks();
}
