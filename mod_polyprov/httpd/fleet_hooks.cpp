// The fleet view's hooks (PolyProvFleet), registered together so the rest
// of the module's wiring stays as it was.

#include "glue.hpp"
#include "hooks.hpp"

#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"

namespace polyprov::glue {

// fleet_lifecycle.cpp
int register_fleet_mutex(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp) noexcept;
int check_fleet_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int start_fleet(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
void start_fleet_child(apr_pool_t* pchild, server_rec* s) noexcept;
// fleet_log_hook.cpp
int record_fleet_request(request_rec* r) noexcept;
// fleet_status.cpp
int handle_fleet_status(request_rec* r) noexcept;
int fleet_server_status(request_rec* r, int flags) noexcept;

void register_fleet_hooks() {
    ap_hook_pre_config(register_fleet_mutex, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_check_config(check_fleet_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_config(start_fleet, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_init(start_fleet_child, nullptr, nullptr, APR_HOOK_MIDDLE);
    // After the response went out: nothing is added to a phone's wait.
    ap_hook_log_transaction(record_fleet_request, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_handler(handle_fleet_status, nullptr, nullptr, APR_HOOK_MIDDLE);
    // Optional: runs only when mod_status is loaded.
    APR_OPTIONAL_HOOK(ap, status_hook, fleet_server_status, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace polyprov::glue
