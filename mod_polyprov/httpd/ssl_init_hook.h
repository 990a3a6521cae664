/* mod_ssl's optional hooks the module uses: init_server (run once per
 * SSL-enabled server context) and pre_handshake (run for every new TLS
 * connection). Debian does not ship mod_ssl_openssl.h, which declares
 * them; the declarations below match httpd 2.4's. */
#ifndef POLYPROV_SSL_INIT_HOOK_H
#define POLYPROV_SSL_INIT_HOOK_H

#include "httpd.h"
#include "apr_optional_hooks.h"
#include <openssl/ssl.h>

#ifdef POLYPROV_HAVE_MOD_SSL_OPENSSL_H
#include "mod_ssl_openssl.h"
#else
#ifdef __cplusplus
extern "C" {
#endif
typedef int ssl_HOOK_init_server_t(server_rec *s, apr_pool_t *p, int is_proxy, SSL_CTX *ctx);
typedef int ssl_HOOK_pre_handshake_t(conn_rec *c, SSL *ssl, int is_proxy);
#ifdef __cplusplus
}
#endif
#endif

#endif
