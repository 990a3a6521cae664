// Installs the expiry waiver on each virtual host's SSL_CTX (mod_ssl's
// init_server hook) and refuses configurations that could not work.

#include "connection_state.hpp"
#include "glue.hpp"
#include "hooks.hpp"
#include "server_counters.hpp"
#include "server_config.hpp"
#include "shared_files.hpp"

#include "http_log.h"

#include <polyprov/client_cert.hpp>
#include <polyprov/mac.hpp>
#include <polyprov/printable.hpp>
#include <polyprov/revoked_set.hpp>
#include <polyprov/shared_file.hpp>
#include <polyprov/waiver_record.hpp>

namespace polyprov::glue {
namespace {

// Called by the core once per handshake whose verification succeeded:
// records what was waived on the connection and in its TLS session, and
// logs a waived expiry.
void on_verified(const WaivedExpiry& event, void* user) noexcept {
    try {
        if (event.ssl) {
            WaiverRecord record;
            record.leaf = event.leaf_waived;
            record.ca = event.ca_waived;
            if (event.anchor)
                if (const auto fp = certificate_sha256(event.anchor)) record.anchor = *fp;
            record_waiver(event.ssl, record);
        }
        if (event.waived_count == 0) return;
        count(&SharedCounters::waived_handshakes);
        const auto* s = static_cast<const server_rec*>(user);
        const auto* c = event.ssl ? static_cast<const conn_rec*>(SSL_get_app_data(event.ssl)) : nullptr;
        if (!c || !APLOG_CS_IS_LEVEL(c, s, APLOG_INFO)) return;
        const std::string cn = printable(subject_common_name(event.leaf));
        const auto mac = Mac::parse(cn);
        const std::string expiry = not_after_iso8601(event.expired);
        ap_log_cserror(APLOG_MARK, APLOG_INFO, 0, c, s,
                       PP_TAG(101) "accepted expired client certificate: MAC %s, CN \"%s\", "
                       "%s expired %s (%d expired in chain)",
                       mac ? mac->str().c_str() : "-", cn.c_str(),
                       event.expired_depth == 0 ? "certificate" : "issuing CA", expiry.c_str(),
                       event.waived_count);
    } catch (...) {
        // Logging must never break a handshake.
    }
}

// Consulted before an expiry is waived: a certificate the revocation
// history lists stays refused, as it would be without the module. When the
// history cannot be read, nothing is waived (fail closed).
struct HistoryVeto {
    SharedFile<RevokedSet>* file;
    const server_rec* server;
};

bool listed_in_history(const X509* cert, void* user) noexcept {
    try {
        const auto* veto = static_cast<const HistoryVeto*>(user);
        if (!files_followed(veto->server)) return true;
        SharedFile<RevokedSet>::View view = veto->file->current();
        if (!view.value) {
            if (view.error)
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, veto->server, PP_TAG(107) "cannot read the published "
                             "revocation history, waiving no expiry: %s", view.error->c_str());
            return true;
        }
        if (!view.value->lists(cert)) return false;
        if (APLOG_IS_LEVEL(veto->server, APLOG_INFO)) {
            const std::string cn = printable(subject_common_name(cert));
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, veto->server,
                         PP_TAG(106) "expiry not waived: \"%s\" (expired %s) is in the revocation history %s",
                         cn.c_str(), not_after_iso8601(cert).c_str(), veto->file->path().c_str());
        }
        return true;
    } catch (...) {
        return true;
    }
}

}  // namespace

int check_waiver_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* main_server) noexcept {
    int status = OK;
    for (server_rec* s = main_server; s; s = s->next) {
        const ServerConfig* conf = server_config(s);
        if (conf->accept_expired == ExpiryMode::off) continue;
        if (!conf->anchors) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         PP_TAG(102) "PolyProvAcceptExpired %s (%s) needs PolyProvTrustAnchorFile: "
                         "name the root CA file the phones' certificates chain to",
                         to_string(conf->accept_expired), conf->accept_expired_where);
            status = !OK;
        }
    }
    if (status == OK && !ap_find_linked_module("mod_ssl.c")) {
        for (server_rec* s = main_server; s; s = s->next) {
            const ServerConfig* conf = server_config(s);
            if (conf->accept_expired == ExpiryMode::off) continue;
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         PP_TAG(103) "PolyProvAcceptExpired %s (%s) needs mod_ssl, which is not loaded",
                         to_string(conf->accept_expired), conf->accept_expired_where);
            return !OK;
        }
    }
    return status;
}

int install_waiver(server_rec* s, apr_pool_t* pconf, int is_proxy, SSL_CTX* ctx) noexcept {
    if (is_proxy) return OK;  // phones are clients; backend connections are not ours
    try {
        const ServerConfig* conf = server_config(s);
        if (conf->accept_expired == ExpiryMode::off || !conf->anchors) return OK;
        auto* waiver = pool_owned(pconf, new ExpiryWaiver(conf->accept_expired, conf->anchors, &on_verified, s));
        if (conf->history) {
            auto* veto = static_cast<HistoryVeto*>(apr_palloc(pconf, sizeof(HistoryVeto)));
            *veto = HistoryVeto{conf->history, s};
            waiver->set_veto(&listed_in_history, veto);
        }
        waiver->install(ctx);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     PP_TAG(104) "expiry waiver '%s' installed, %" APR_SIZE_T_FMT " trust anchor(s) from %s",
                     to_string(conf->accept_expired), conf->anchors->size(), conf->anchor_path);
        return OK;
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PP_TAG(901) "cannot install the expiry waiver: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PP_TAG(901) "cannot install the expiry waiver");
    }
    return APR_EGENERAL;  // fail the start rather than run without the configured policy
}

}  // namespace polyprov::glue
