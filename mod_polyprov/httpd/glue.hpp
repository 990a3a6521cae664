// What every glue file shares: the module record, module-scoped logging,
// and the rule that no exception leaves a hook.
#pragma once

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"

extern "C" {
extern module AP_MODULE_DECLARE_DATA polyprov_module;
}
APLOG_USE_MODULE(polyprov);

namespace polyprov::glue {

// Stable message tags of our own (httpd's AHnnnnn numbers are httpd's).
// PP1xx: TLS, PP9xx: internal errors.
#define PP_TAG(n) "PP" #n " "

// Objects that live as long as a pool: deleted by the pool's cleanup, so a
// graceful restart frees the old configuration's objects.
template <typename T>
T* pool_owned(apr_pool_t* pool, T* object) {
    apr_pool_cleanup_register(
        pool, object,
        [](void* p) -> apr_status_t {
            delete static_cast<T*>(p);
            return APR_SUCCESS;
        },
        apr_pool_cleanup_null);
    return object;
}

}  // namespace polyprov::glue
