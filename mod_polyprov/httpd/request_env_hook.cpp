// Sets POLYPROV_CERT_EXPIRED as soon as a request is read, so that <If>,
// SetEnvIf, mod_rewrite and everything later can see it.
//
// It is derived from the certificate itself rather than remembered from
// the handshake: a resumed TLS session carries no verification state of
// ours, but it does carry the peer certificate.

#include "glue.hpp"
#include "hooks.hpp"
#include "server_config.hpp"

#include "http_ssl.h"

#include <cstring>
#include <ctime>

#include <polyprov/client_cert.hpp>

namespace polyprov::glue {
namespace {

// One connection answers many requests with the same certificate: parse it
// once. Keyed by the PEM text, so a renegotiated certificate is re-read.
struct ConnectionCertificate {
    const char* pem;
    bool expired;
};

const char* ssl_var(request_rec* r, const char* name) {
    const char* v = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, name);
    return (v && *v) ? v : nullptr;
}

bool pem_expired(const char* pem, std::time_t now) {
    const X509Ptr cert = parse_pem_certificate(pem);
    return !cert || has_expired(cert.get(), now);  // unreadable: say expired, never fresh
}

bool certificate_expired(request_rec* r, const char* leaf_pem, ExpiryMode mode) {
    const std::time_t now = apr_time_sec(r->request_time);
    if (pem_expired(leaf_pem, now)) return true;
    if (mode != ExpiryMode::chain) return false;
    // Under "chain" an issuing CA may be the expired one; the peer's chain
    // is what a resumed session still knows of it.
    for (int i = 0; i < 10; ++i) {
        const char* pem = ssl_var(r, apr_psprintf(r->pool, "SSL_CLIENT_CERT_CHAIN_%d", i));
        if (!pem) break;
        if (pem_expired(pem, now)) return true;
    }
    return false;
}

}  // namespace

int set_certificate_env(request_rec* r) noexcept {
    try {
        if (!ap_ssl_conn_is_ssl(r->connection)) return DECLINED;
        const char* pem = ssl_var(r, "SSL_CLIENT_CERT");
        if (!pem) return DECLINED;  // no certificate: the variable stays unset

        conn_rec* c = r->connection;
        auto* cached = static_cast<ConnectionCertificate*>(ap_get_module_config(c->conn_config, &polyprov_module));
        if (!cached || std::strcmp(cached->pem, pem) != 0) {
            cached = static_cast<ConnectionCertificate*>(apr_palloc(c->pool, sizeof *cached));
            cached->pem = apr_pstrdup(c->pool, pem);
            cached->expired = certificate_expired(r, pem, server_config(r->server)->accept_expired);
            ap_set_module_config(c->conn_config, &polyprov_module, cached);
        }
        apr_table_setn(r->subprocess_env, "POLYPROV_CERT_EXPIRED", cached->expired ? "1" : "0");
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(902) "cannot inspect the client certificate");
    }
    return DECLINED;
}

}  // namespace polyprov::glue
