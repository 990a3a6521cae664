// The hook functions the glue registers; each is noexcept and only adapts
// between httpd and the core.
#pragma once

#include "httpd.h"
#include "scoreboard.h"
#include <openssl/ssl.h>

namespace polyprov::glue {

// tls_waiver_hook.cpp
int check_waiver_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int install_waiver(server_rec* s, apr_pool_t* pconf, int is_proxy, SSL_CTX* ctx) noexcept;

// connection_state.cpp
int note_tls_connection(conn_rec* c, SSL* ssl, int is_proxy) noexcept;

// shared_files.cpp
int start_file_watcher(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;

// request_env_hook.cpp
int set_certificate_env(request_rec* r) noexcept;
int recheck_waiver_scope(request_rec* r) noexcept;

// access_hook.cpp
int note_loaded_cache(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int check_device_access_early(request_rec* r) noexcept;   // type checker, before mod_negotiation
int check_device_access(request_rec* r) noexcept;         // fixups

// upload_handler.cpp
int handle_upload(request_rec* r) noexcept;
int serve_uploads_as_data(request_rec* r) noexcept;

// crl_freshness_hook.cpp
int log_crl_freshness(server_rec* s, apr_pool_t* pconf, int is_proxy, SSL_CTX* ctx) noexcept;

// server_counters.cpp
int attach_server_counters(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int reset_server_counters(apr_pool_t* p, ap_scoreboard_e sb_type) noexcept;
int count_decision(request_rec* r) noexcept;

// fleet_hooks.cpp: the fleet view's hooks, registered together.
void register_fleet_hooks();

}  // namespace polyprov::glue
