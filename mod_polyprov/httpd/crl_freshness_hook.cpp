// At start-up and at each graceful restart, says for every virtual host
// that checks revocation how long each of its CRLs stays usable (PP401),
// and warns when less than three days are left or it has passed (PP402):
// past a CRL's nextUpdate, mod_ssl refuses every client certificate that
// CRL covers, so a forgotten refresh locks out the whole fleet.
//
// Where the CRLs come from: mod_ssl reads SSLCARevocationFile into the
// context's X509_STORE before it runs the init_server hook (ssl_init_ctx_crl,
// then ssl_run_init_server, in ssl_engine_init.c), so those are read from
// the store, as mod_ssl will check them. SSLCARevocationPath is a hashed
// directory OpenSSL opens only during handshakes, and neither the store nor
// mod_ssl's (private) configuration says which directory; the directive is
// found in the configuration tree, as mod_ssl merges it (the virtual host's
// own, else the main server's), and its files are read as OpenSSL would.

#include "glue.hpp"
#include "hooks.hpp"

#include "http_core.h"
#include "util_cfgtree.h"

#include <openssl/x509_vfy.h>

#include <ctime>
#include <string>
#include <vector>

#include <polyprov/crl_freshness.hpp>
#include <polyprov/error.hpp>

namespace polyprov::glue {
namespace {

// The last value of a server-scope directive that `s` sees: in its own
// <VirtualHost> section, else at the top level (the main server's), the
// way mod_ssl merges its per-server strings. Null when it is not set.
const char* directive_value(const server_rec* s, const char* name, apr_pool_t* p) {
    const ap_directive_t* section = nullptr;
    const char* top = nullptr;
    for (const ap_directive_t* d = ap_conftree; d; d = d->next) {
        if (!strcasecmp(d->directive, name)) {
            top = d->args;
        } else if (s->is_virtual && s->defn_name && d->filename && !strcasecmp(d->directive, "<VirtualHost") &&
                   static_cast<unsigned>(d->line_num) == s->defn_line_number && !strcmp(d->filename, s->defn_name)) {
            section = d;
        }
    }
    const char* args = nullptr;
    for (const ap_directive_t* d = section ? section->first_child : nullptr; d; d = d->next)
        if (!strcasecmp(d->directive, name)) args = d->args;
    if (!args) args = top;
    if (!args) return nullptr;
    const char* word = ap_getword_conf(p, &args);
    return *word ? ap_server_root_relative(p, word) : nullptr;
}

std::string vhost_name(const server_rec* s) {
    std::string name = s->server_hostname ? s->server_hostname : "(no ServerName)";
    if (s->port) name += ":" + std::to_string(s->port);
    if (s->defn_name) name += " (" + std::string(s->defn_name) + ":" + std::to_string(s->defn_line_number) + ")";
    return name;
}

void log_facts(server_rec* s, const std::string& vhost, const CrlFacts& facts) {
    const CrlFreshness state = classify(facts, kCrlWarnSeconds);
    const std::string line = crl_summary(facts) + "; " + freshness_note(facts, state);
    if (state == CrlFreshness::fresh)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PP_TAG(401) "virtual host %s: %s", vhost.c_str(), line.c_str());
    else
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     PP_TAG(402) "virtual host %s: %s: past its nextUpdate, mod_ssl refuses every client "
                     "certificate this CRL covers; fetch a new one (polyprov fetch-crl) and reload",
                     vhost.c_str(), line.c_str());
}

}  // namespace

int log_crl_freshness(server_rec* s, apr_pool_t* pconf, int is_proxy, SSL_CTX* ctx) noexcept {
    // httpd reads its configuration twice at start-up; say it once.
    if (is_proxy || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    try {
        const std::time_t now = std::time(nullptr);
        const std::string vhost = vhost_name(s);
        const char* file = directive_value(s, "SSLCARevocationFile", pconf);
        const X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        const STACK_OF(X509_OBJECT)* objects = store ? X509_STORE_get0_objects(store) : nullptr;
        for (int i = 0; objects && i < sk_X509_OBJECT_num(objects); ++i) {
            const X509_OBJECT* object = sk_X509_OBJECT_value(objects, i);
            if (X509_OBJECT_get_type(object) != X509_LU_CRL) continue;
            // Without SSLCARevocationFile, a CRL here came from SSLCACertificateFile.
            log_facts(s, vhost,
                      describe_crl(X509_OBJECT_get0_X509_CRL(object),
                                   file ? file : "SSLCACertificateFile", now));
        }
        if (const char* dir = directive_value(s, "SSLCARevocationPath", pconf)) {
            try {
                const auto crls = read_crl_directory(dir, now);
                if (crls.empty())
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                                 PP_TAG(403) "virtual host %s: %s holds no CRL file (HHHHHHHH.rN, as openssl rehash "
                                 "names them)", vhost.c_str(), dir);
                for (const auto& facts : crls) log_facts(s, vhost, facts);
            } catch (const Error& e) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PP_TAG(403) "virtual host %s: %s", vhost.c_str(),
                             e.what());
            }
        }
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PP_TAG(449) "cannot report CRL freshness: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PP_TAG(449) "cannot report CRL freshness");
    }
    return OK;  // a report, never a reason not to start
}

}  // namespace polyprov::glue
