// Client certificate facts are derived from the certificate itself rather
// than remembered from the handshake: a resumed TLS session carries no
// verification state of ours, but it does carry the peer certificate.

#include "client_facts.hpp"

#include "glue.hpp"
#include "server_config.hpp"

#include "http_ssl.h"

#include <cstring>
#include <ctime>

#include <polyprov/client_cert.hpp>

namespace polyprov::glue {
namespace {

bool pem_expired(const char* pem, std::time_t now) {
    const X509Ptr cert = parse_pem_certificate(pem);
    return !cert || has_expired(cert.get(), now);  // unreadable: say expired, never fresh
}

bool chain_expired(request_rec* r, std::time_t now) {
    for (int i = 0; i < 10; ++i) {
        const char* pem = ssl_var(r, apr_psprintf(r->pool, "SSL_CLIENT_CERT_CHAIN_%d", i));
        if (!pem) break;
        if (pem_expired(pem, now)) return true;
    }
    return false;
}

}  // namespace

const char* ssl_var(request_rec* r, const char* name) {
    const char* v = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, name);
    return (v && *v) ? v : nullptr;
}

const CertificateFacts* certificate_facts(request_rec* r) {
    conn_rec* c = r->connection;
    if (!ap_ssl_conn_is_ssl(c)) return nullptr;
    const char* pem = ssl_var(r, "SSL_CLIENT_CERT");
    if (!pem) return nullptr;

    auto* facts = static_cast<CertificateFacts*>(ap_get_module_config(c->conn_config, &polyprov_module));
    if (facts && std::strcmp(facts->pem, pem) == 0) return facts;

    const X509Ptr cert = parse_pem_certificate(pem);
    facts = static_cast<CertificateFacts*>(apr_pcalloc(c->pool, sizeof *facts));
    facts->pem = apr_pstrdup(c->pool, pem);
    facts->cn = "";
    facts->expired = facts->leaf_expired = true;
    if (cert) {
        facts->cn = apr_pstrdup(c->pool, subject_common_name(cert.get()).c_str());
        facts->fingerprint = certificate_sha256(cert.get());
        const std::time_t now = apr_time_sec(r->request_time);
        // Under "chain" an issuing CA may be the expired one; the peer's
        // chain is what a resumed session still knows of it.
        facts->leaf_expired = has_expired(cert.get(), now);
        facts->expired = facts->leaf_expired ||
                         (server_config(r->server)->accept_expired == ExpiryMode::chain && chain_expired(r, now));
    }
    ap_set_module_config(c->conn_config, &polyprov_module, facts);
    return facts;
}

}  // namespace polyprov::glue
