// Wires the glue's hooks into httpd and mod_ssl.

#include "edge.h"
#include "glue.hpp"
#include "hooks.hpp"
#include "ssl_init_hook.h"

#include "http_request.h"
#include "http_protocol.h"

extern "C" void polyprov_register_hooks(apr_pool_t*) {
    using namespace polyprov::glue;
    ap_hook_check_config(check_waiver_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    // Before mod_setenvif's server-wide SetEnvIf, which runs here too.
    ap_hook_post_read_request(set_certificate_env, nullptr, nullptr, APR_HOOK_FIRST);
    // First among fixups: deny before anything else acts on the request.
    ap_hook_fixups(check_device_access, nullptr, nullptr, APR_HOOK_FIRST);
    // Before mod_dav and the default handler (which would answer PUT with 405).
    ap_hook_handler(handle_upload, nullptr, nullptr, APR_HOOK_FIRST);
    // Optional: runs only when mod_ssl is loaded, whatever the LoadModule order.
    APR_OPTIONAL_HOOK(ssl, init_server, install_waiver, nullptr, nullptr, APR_HOOK_MIDDLE);
    register_fleet_hooks();
}
