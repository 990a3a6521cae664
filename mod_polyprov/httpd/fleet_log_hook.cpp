// Records each request the module decided, once its response has gone out
// (log_transaction): the facts are handed to this process's updater and the
// request is done; nothing here waits for the cache.

#include "glue.hpp"
#include "hooks.hpp"

#include <polyprov/time_text.hpp>

#include "fleet_config.hpp"
#include "fleet_request.hpp"
#include "fleet_updater.hpp"

namespace polyprov::glue {

int record_fleet_request(request_rec* r) noexcept {
    FleetConfig* config = serving_fleet();
    if (!config) return DECLINED;
    const FleetStore* store = config->store_for(r->server);
    FleetUpdater* updater = FleetUpdater::current();
    if (!store || !updater) return DECLINED;
    try {
        auto facts = fleet_request_facts(r);
        if (!facts) return DECLINED;
        // The status the client got, after internal redirects (as %>s).
        const request_rec* last = r;
        while (last->next) last = last->next;

        FleetEvent e;
        e.time = r->request_time;  // microseconds, as EventTime
        e.mac = facts->claimed_mac;
        e.authenticated = facts->authenticated_mac.has_value();
        e.decision = facts->decision;
        if (facts->label) e.label = facts->label;
        e.method = r->method ? r->method : "";
        e.path = r->uri ? r->uri : "";
        e.address = r->useragent_ip ? r->useragent_ip : "";
        if (const char* ua = apr_table_get(r->headers_in, "User-Agent")) e.user_agent = ua;
        e.status = last->status;
        if (facts->cert_not_after) e.cert_not_after = *facts->cert_not_after;
        e.cert_expired = facts->cert_expired;
        e.waived = facts->waived;
        e.pinned = facts->pinned;
        if (r->method_number == M_PUT) {
            if (const char* length = apr_table_get(r->headers_in, "Content-Length")) {
                char* end = nullptr;
                const apr_int64_t n = apr_strtoi64(length, &end, 10);
                if (end && !*end && n >= 0) e.body_bytes = static_cast<std::uint64_t>(n);
            }
        }
        updater->submit(store->slot, std::move(e));
    } catch (...) {
        // The fleet view never disturbs a request; a lost record is all.
    }
    return DECLINED;
}

}  // namespace polyprov::glue
