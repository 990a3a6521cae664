// Where the counters live: anonymous shared memory from the parent's
// process pool, named in httpd's retained data, so the block outlives each
// configuration generation and the children of every generation inherit it.

#include "server_counters.hpp"

#include "glue.hpp"
#include "hooks.hpp"
#include "request_note.hpp"

#include "ap_mpm.h"
#include "apr_shm.h"
#include "http_core.h"
#include "scoreboard.h"

#include <new>

namespace polyprov::glue {
namespace {

constexpr const char* kRetainedKey = "mod_polyprov:server-counters";

struct Retained {
    SharedCounters* counters;
};

SharedCounters* g_counters = nullptr;

void zero(SharedCounters* c) {
    for (auto& d : c->decisions) d.store(0);
    c->waived_handshakes.store(0);
    c->uploads.store(0);
    c->upload_bytes.store(0);
    c->fleet_updates_dropped.store(0);
    c->fleet_write_failures.store(0);
    c->since.store(apr_time_sec(apr_time_now()));
}

}  // namespace

SharedCounters* server_counters() noexcept { return g_counters; }

ServerCounters read_server_counters() noexcept {
    ServerCounters out;
    const SharedCounters* c = g_counters;
    if (!c) return out;
    for (std::size_t i = 0; i < kFleetDecisions; ++i) out.decisions[i] = c->decisions[i].load(std::memory_order_relaxed);
    out.waived_handshakes = c->waived_handshakes.load(std::memory_order_relaxed);
    out.uploads = c->uploads.load(std::memory_order_relaxed);
    out.upload_bytes = c->upload_bytes.load(std::memory_order_relaxed);
    out.fleet_updates_dropped = c->fleet_updates_dropped.load(std::memory_order_relaxed);
    out.fleet_write_failures = c->fleet_write_failures.load(std::memory_order_relaxed);
    out.since = c->since.load(std::memory_order_relaxed);
    return out;
}

int attach_server_counters(apr_pool_t*, apr_pool_t* plog, apr_pool_t*, server_rec* s) noexcept {
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::int64_t>::is_always_lock_free,
                  "counters shared between processes");
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    auto* retained = static_cast<Retained*>(ap_retained_data_get(kRetainedKey));
    if (!retained) {
        apr_shm_t* shm = nullptr;
        const apr_status_t rv = apr_shm_create(&shm, sizeof(SharedCounters), nullptr, s->process->pool);
        if (rv != APR_SUCCESS) {
            // The server runs without counters rather than not at all.
            ap_log_perror(APLOG_MARK, APLOG_ERR, rv, plog, PP_TAG(560) "cannot allocate the counters for ?metrics");
            return OK;
        }
        retained = static_cast<Retained*>(ap_retained_data_create(kRetainedKey, sizeof(Retained)));
        retained->counters = new (apr_shm_baseaddr_get(shm)) SharedCounters;
        zero(retained->counters);
    }
    g_counters = retained->counters;
    return OK;
}

// The MPM makes the scoreboard anew here, on start and full restart only.
int reset_server_counters(apr_pool_t*, ap_scoreboard_e) noexcept {
    if (g_counters) zero(g_counters);
    return OK;
}

// log_transaction: the module's decision on the request, once (the note,
// not the environment: POLYPROV_ names all share APR's table checksum, so
// a lookup there compares against each of them).
int count_decision(request_rec* r) noexcept {
    SharedCounters* c = g_counters;
    const RequestNote* note = c ? find_request_note(r) : nullptr;
    if (!note || !note->decision) return DECLINED;
    const FleetDecision d = parse_decision(note->decision).value_or(FleetDecision::error);
    c->decisions[static_cast<std::size_t>(d)].fetch_add(1, std::memory_order_relaxed);
    return DECLINED;
}

}  // namespace polyprov::glue
