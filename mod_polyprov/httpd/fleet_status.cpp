// SetHandler polyprov-status: the fleet as a page, ?json and ?auto; and a
// short summary on mod_status's /server-status. Who may see them is up to
// the usual Require directives, as for mod_status.

#include "glue.hpp"
#include "hooks.hpp"

#include "http_protocol.h"
#include "mod_status.h"

#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <polyprov/escape.hpp>
#include <polyprov/fleet_reader.hpp>
#include <polyprov/fleet_render.hpp>
#include <polyprov/server_metrics.hpp>

#include "fleet_config.hpp"
#include "fleet_socache.hpp"
#include "fleet_updater.hpp"
#include "server_counters.hpp"

namespace polyprov::glue {
namespace {

int answer(request_rec* r, int status, const char* type, const std::string& body) {
    r->status = status;
    ap_set_content_type(r, type);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    // Stated, so a client can tell a cut-off document (polyprov fleet does).
    ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
    if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    return OK;
}

// True when the cache answers. While it is marked down, one caller per
// retry interval tries a write (and marks it up again when that works);
// the others take it as down without touching the network.
bool cache_answers(const FleetConfig& config, const FleetStore& store, SocacheFleetCache& cache, server_rec* s) {
    FleetSharedState& shared = config.shared[store.slot];
    const UnixTime now = apr_time_sec(apr_time_now());
    // A call that has waited for seconds: the cache hangs; another wait
    // would hold this worker too (memcache calls have no read timeout).
    if (shared.stalled(now)) {
        if (shared.mark_down(now, FleetUpdater::kRetryAfterFailure)) FleetUpdater::log_down(s, store);
        return false;
    }
    if (shared.down_since.load() == 0) return true;
    if (!shared.may_try(now, FleetUpdater::kRetryAfterFailure) || !cache.probe(now)) return false;
    std::int64_t since = 0;
    if (shared.mark_up(now, since)) FleetUpdater::log_up(s, store, since, now);
    return true;
}

// One of the server's few reads of the whole view, or none when they are
// all taken (FleetSharedState::kMaxReaders).
class ReaderTurn {
public:
    explicit ReaderTurn(FleetSharedState& shared) : shared_(shared) {
        granted_ = shared_.readers.fetch_add(1) < FleetSharedState::kMaxReaders;
        if (!granted_) shared_.readers.fetch_sub(1);
    }
    ~ReaderTurn() {
        if (granted_) shared_.readers.fetch_sub(1);
    }
    ReaderTurn(const ReaderTurn&) = delete;
    ReaderTurn& operator=(const ReaderTurn&) = delete;
    bool granted() const noexcept { return granted_; }

private:
    FleetSharedState& shared_;
    bool granted_ = false;
};

FleetPageContext page_context(const FleetConfig& config, const FleetStore& store, const FleetQuery& query) {
    FleetPageContext c;
    c.node = config.node;
    c.now = apr_time_sec(apr_time_now());
    c.query = query;
    c.dropped_updates = config.shared[store.slot].tally.dropped.load(std::memory_order_relaxed);
    c.cache_down = config.shared[store.slot].down_since.load() != 0;
    return c;
}

}  // namespace

static int answer_fleet_status(request_rec* r) noexcept;

// At 100,000 devices a page works with some 100 MB (the records, the
// document) on the request's thread; glibc keeps what a thread freed for
// that thread, so every worker that once served the page held it: 1.5 GB
// over a server's processes in bench/fleet_scale.py. Given back at once.
int handle_fleet_status(request_rec* r) noexcept {
    if (!r->handler || std::strcmp(r->handler, "polyprov-status") != 0) return DECLINED;
    const int status = answer_fleet_status(r);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    return status;
}

static int answer_fleet_status(request_rec* r) noexcept {
    try {
        r->allowed |= (AP_METHOD_BIT << M_GET);
        if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
        FleetConfig* config = serving_fleet();
        const FleetStore* store = config ? config->store_for(r->server) : nullptr;
        std::string error;
        const auto query = parse_fleet_query(r->args ? r->args : "", error);
        if (!query) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PP_TAG(521) "fleet status: bad query: %s: 400", error.c_str());
            return answer(r, HTTP_BAD_REQUEST, "text/plain; charset=utf-8", error + "\n");
        }
        // The server's counters are there with or without a fleet view.
        if (!store && query->format == FleetQuery::Format::metrics)
            return answer(r, HTTP_OK, kMetricsContentType, render_metrics(read_server_counters(), nullptr));
        if (!store) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          PP_TAG(520) "SetHandler polyprov-status for %s, but PolyProvFleet is not set for this "
                          "virtual host: 503", r->uri);
            return answer(r, HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                          "PolyProvFleet is not set for this virtual host: there is no fleet view to show.\n");
        }
        ReaderTurn turn(config->shared[store->slot]);
        if (!turn.granted()) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          PP_TAG(523) "fleet status: %d reads of the fleet view already under way: 503",
                          FleetSharedState::kMaxReaders);
            apr_table_setn(r->err_headers_out, "Retry-After", "5");
            return answer(r, HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                          "The fleet view is being read by other requests; try again in a few seconds.\n");
        }
        SocacheFleetCache cache(*store, config->mutex, r->server, r->pool, &config->shared[store->slot]);
        // A cache marked down answers reads with "not found" (memcache,
        // redis): an empty fleet would be a lie, so say it is down.
        std::optional<FleetSnapshot> snapshot;
        if (cache_answers(*config, *store, cache, r->server))
            snapshot = read_fleet(cache, apr_time_sec(apr_time_now()), store->expire, config->node,
                                  &config->shared[store->slot].tally);
        const FleetPageContext context = page_context(*config, *store, *query);
        // A scraper is told the cache is down in the exposition itself, so
        // the counters keep coming and an alert can name the cause.
        if (query->format == FleetQuery::Format::metrics) {
            std::optional<FleetSummary> summary;
            if (snapshot) summary = summarize(*snapshot, context.now, *query);
            const FleetMetrics fleet{snapshot ? &*snapshot : nullptr, summary ? &*summary : nullptr, &context};
            return answer(r, HTTP_OK, kMetricsContentType, render_metrics(read_server_counters(), &fleet));
        }
        if (!snapshot) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          PP_TAG(522) "fleet status: the cache %s does not answer: 503", store->spec.c_str());
            return answer(r, HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                          "The fleet cache (" + store->spec +
                              ") does not answer. Phones are served as before; their requests are not recorded "
                              "until it answers again.\n");
        }
        switch (query->format) {
        case FleetQuery::Format::json:
            return answer(r, HTTP_OK, "application/json", render_fleet_json(*snapshot, context));
        case FleetQuery::Format::csv:
            apr_table_setn(r->headers_out, "Content-Disposition", "attachment; filename=\"polyprov-fleet.csv\"");
            return answer(r, HTTP_OK, "text/csv; charset=utf-8; header=present", render_fleet_csv(*snapshot, context));
        case FleetQuery::Format::counters:
            return answer(r, HTTP_OK, "text/plain; charset=utf-8",
                          render_fleet_counters(*snapshot, summarize(*snapshot, context.now, *query), context));
        case FleetQuery::Format::html:
        case FleetQuery::Format::metrics:   // answered above
            break;
        }
        apr_table_setn(r->headers_out, "Content-Security-Policy", fleet_page_csp().c_str());
        apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
        apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
        return answer(r, HTTP_OK, "text/html; charset=utf-8",
                      render_fleet_html(*snapshot, summarize(*snapshot, context.now, *query), context));
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(549) "fleet status failed: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(549) "fleet status failed");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

int fleet_server_status(request_rec* r, int flags) noexcept {
    try {
        FleetConfig* config = serving_fleet();
        if (!config) return OK;
        const FleetStore* store = config->store_for(r->server);
        for (const auto& s : config->stores())
            if (!store && s->used) store = s.get();
        if (!store) return OK;
        ReaderTurn turn(config->shared[store->slot]);
        if (!turn.granted()) {
            ap_rputs(flags & AP_STATUS_SHORT ? "PolyProvFleetBusy: 1\n"
                                             : "<hr /><h2>Phone fleet</h2>\n<p>The fleet view is being read by "
                                               "other requests.</p>\n",
                     r);
            return OK;
        }
        SocacheFleetCache cache(*store, config->mutex, r->server, r->pool, &config->shared[store->slot]);
        const FleetPageContext context = page_context(*config, *store, FleetQuery{});
        std::optional<FleetSnapshot> snapshot;
        if (cache_answers(*config, *store, cache, r->server)) snapshot = read_fleet(cache, context.now, store->expire, config->node,
                                                                                         &config->shared[store->slot].tally);
        const bool short_report = flags & AP_STATUS_SHORT;
        if (!snapshot) {
            ap_rputs(short_report ? "PolyProvFleetCacheDown: 1\n"
                                  : "<hr /><h2>Phone fleet</h2>\n<p>The fleet cache does not answer.</p>\n",
                     r);
            return OK;
        }
        const FleetSummary s = summarize(*snapshot, context.now, context.query);
        const auto n = [](std::uint64_t v) { return std::to_string(v); };
        if (short_report) {
            ap_rputs(("PolyProvFleetDevices: " + n(s.devices) + "\nPolyProvFleetNotSeen24h: " + n(s.not_seen) +
                      "\nPolyProvFleetCertificatesExpired: " + n(s.expired) +
                      "\nPolyProvFleetCertificatesExpiring30d: " + n(s.expiring) + "\nPolyProvFleetRefused: " +
                      n(s.refused) + "\nPolyProvFleetProbes: " + n(s.probes) +
                      "\nPolyProvFleetUpdatesDropped: " + n(context.dropped_updates) + "\n")
                         .c_str(),
                     r);
            return OK;
        }
        ap_rputs(("<hr /><h2>Phone fleet (mod_polyprov)</h2>\n<dl>\n<dt>" + n(s.devices) + " devices, " +
                  n(s.not_seen) + " not seen for 24 hours</dt>\n<dt>" + n(s.expired) + " certificates expired (" +
                  n(s.expired_waived) + " carried by the waiver), " + n(s.expiring) +
                  " expiring within 30 days</dt>\n<dt>" + n(s.refused) + " refused devices, " + n(s.probes) +
                  " probing attempts</dt>\n<dt>node " + html_text(config->node) + ", cache " +
                  html_text(store->spec) + (context.cache_down ? " (does not answer)" : "") + ", " +
                  n(context.dropped_updates) + " requests not recorded</dt>\n</dl>\n")
                     .c_str(),
                 r);
    } catch (...) {
        // /server-status shows the rest without us.
    }
#ifdef __GLIBC__
    malloc_trim(0);  // as after the page
#endif
    return OK;
}

}  // namespace polyprov::glue
