#include "fleet_updater.hpp"

#include "glue.hpp"

#include <csignal>
#include <ctime>
#include <map>
#include <pthread.h>

#include "fleet_socache.hpp"
#include "server_counters.hpp"

namespace polyprov::glue {
namespace {

// Requests not recorded: on the status page (this generation's count) and
// in ?metrics (the server's, across graceful restarts).
void drop(FleetSharedState& shared, std::uint64_t requests) noexcept {
    shared.tally.dropped.fetch_add(requests, std::memory_order_relaxed);
    count(&SharedCounters::fleet_updates_dropped, requests);
}

FleetUpdater* g_updater = nullptr;  // this process's

UnixTime now_seconds() { return static_cast<UnixTime>(std::time(nullptr)); }

}  // namespace

FleetUpdater* FleetUpdater::current() noexcept { return g_updater; }

FleetUpdater* FleetUpdater::start(FleetConfig& config, server_rec* s, apr_pool_t* pchild) {
    try {
        auto* updater = new FleetUpdater(config, s);
        for (const auto& store : config.stores())
            updater->writers_.emplace_back(config.node, store->expire, &config.shared[store->slot].tally);
        for (std::size_t i = 0; i < config.stores().size(); ++i)
            updater->outages_seen_.push_back(config.shared[i].outages.load());
        // The thread takes no signals: httpd's handlers (prefork's SIGTERM
        // handler exits the process) must run on the threads they expect.
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        try {
            updater->thread_ = std::thread([updater] { updater->run(); });
        } catch (...) {
            pthread_sigmask(SIG_SETMASK, &old, nullptr);
            delete updater;
            throw;
        }
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        // Before pchild's subpools and cleanups go: the last flush still
        // uses the global mutex, which pchild's cleanups close.
        apr_pool_pre_cleanup_register(pchild, updater, &FleetUpdater::stop);
        g_updater = updater;
        return updater;
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     PP_TAG(540) "cannot start the fleet updater, this process records nothing: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, PP_TAG(540) "cannot start the fleet updater, this process records nothing");
    }
    return nullptr;
}

// Runs when the process exits, possibly from prefork's SIGTERM handler,
// which may have interrupted this very thread inside malloc or free: no
// lock is taken here, nothing is allocated or freed (the object is left to
// the exit), and the wait for the last flush is bounded.
apr_status_t FleetUpdater::stop(void* data) {
    auto* updater = static_cast<FleetUpdater*>(data);
    g_updater = nullptr;
    updater->stopping_ = true;
    updater->wake_.notify_all();
    const auto deadline = std::chrono::steady_clock::now() + kStopWait;
    while (!updater->finished_ && std::chrono::steady_clock::now() < deadline) {
        const timespec pause{0, 10 * 1000 * 1000};
        nanosleep(&pause, nullptr);
    }
    if (updater->finished_)
        updater->thread_.join();
    else
        // Stuck in a cache call (a server that stopped answering without
        // closing): it ends with the process.
        updater->thread_.detach();
    return APR_SUCCESS;
}

void FleetUpdater::submit(std::size_t slot, FleetEvent&& event) noexcept {
    bool full = false;
    try {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        full = queue_.size() >= kQueueCapacity;
        if (!full) queue_.push_back({slot, std::move(event)});
    } catch (...) {
        full = true;  // out of memory: as full
    }
    if (!full) return;
    drop(config_.shared[slot], 1);
    if (!queue_full_logged_.exchange(true))
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, server_,
                     PP_TAG(512) "fleet view: requests come faster than the cache %s takes them; their facts are "
                     "dropped (counted on the status page) until it catches up",
                     config_.stores()[slot]->spec.c_str());
}

void FleetUpdater::log_down(server_rec* s, const FleetStore& store) {
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                 PP_TAG(510) "fleet view: the cache %s does not answer; phones are served as before, their "
                 "requests are not recorded until it answers again (tried every %d s)",
                 store.spec.c_str(), static_cast<int>(kRetryAfterFailure));
}

void FleetUpdater::log_up(server_rec* s, const FleetStore& store, UnixTime since, UnixTime now) {
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 PP_TAG(511) "fleet view: the cache %s answers again (it did not for %" APR_INT64_T_FMT " s)",
                 store.spec.c_str(), static_cast<apr_int64_t>(now - since));
}

void FleetUpdater::run() noexcept {
    apr_pool_t* pool = nullptr;
    try {
        if (apr_pool_create_unmanaged_ex(&pool, nullptr, nullptr) != APR_SUCCESS) throw std::bad_alloc();
        std::vector<Queued> batch;
        batch.reserve(kQueueCapacity);
        for (bool last = false; !last;) {
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait_for(lock, kFlushInterval, [this] { return stopping_.load(); });
                last = stopping_;
                batch.swap(queue_);
            }
            if (batch.size() < kQueueCapacity / 2) queue_full_logged_ = false;
            flush(batch, pool);
            batch.clear();
            apr_pool_clear(pool);
        }
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, server_, PP_TAG(549) "fleet updater stopped: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, server_, PP_TAG(549) "fleet updater stopped");
    }
    if (pool) apr_pool_destroy(pool);
    finished_ = true;
}

std::vector<std::size_t> FleetUpdater::claim_sweep(const FleetStore& store, FleetSharedState& shared) {
    const std::int64_t cycle_ms = 1000 * std::min<std::int64_t>(store.ring ? kRingSweep : kSweep, store.expire / 2);
    const std::int64_t now_ms = apr_time_as_msec(apr_time_now());
    std::int64_t started = 0;
    shared.sweep_started_ms.compare_exchange_strong(started, now_ms);
    started = shared.sweep_started_ms.load();
    const std::int64_t due = (now_ms - started) * static_cast<std::int64_t>(kIndexShards) / std::max<std::int64_t>(cycle_ms, 1000);
    std::vector<std::size_t> out;
    std::int64_t done = shared.swept.load();
    // Behind by more than a cycle (the cache was down): one cycle is enough.
    if (due - done > static_cast<std::int64_t>(kIndexShards))
        shared.swept.compare_exchange_strong(done, due - static_cast<std::int64_t>(kIndexShards));
    while (out.size() < kMaxSweepPerFlush) {
        done = shared.swept.load();
        if (done >= due) break;
        if (shared.swept.compare_exchange_weak(done, done + 1))
            out.push_back(static_cast<std::size_t>(done) % kIndexShards);
    }
    return out;
}

void FleetUpdater::flush(std::vector<Queued>& batch, apr_pool_t* pool) {
    const auto& stores = config_.stores();
    // Per store, one pending record per MAC, and how many requests it holds.
    std::vector<std::map<std::uint64_t, std::pair<DeviceRecord, std::uint64_t>>> pending(stores.size());
    for (Queued& q : batch) {
        auto& slot = pending[q.slot];
        const Mac mac = *q.event.mac;
        auto at = slot.find(mac.value());
        if (at == slot.end())
            slot.emplace(mac.value(), std::make_pair(record_of(q.event), std::uint64_t{1}));
        else
            apply(at->second.first, q.event), ++at->second.second;
    }

    for (std::size_t i = 0; i < stores.size(); ++i) {
        const FleetStore& store = *stores[i];
        FleetSharedState& shared = config_.shared[i];
        if (!store.used) continue;
        const bool may_sweep = shared.down_since.load() == 0 && !shared.stalled(now_seconds());
        const std::vector<std::size_t> sweep = may_sweep ? claim_sweep(store, shared) : std::vector<std::size_t>{};
        if (pending[i].empty() && sweep.empty()) continue;
        std::uint64_t requests = 0;
        std::vector<DeviceRecord> records;
        for (auto& [mac, entry] : pending[i]) {
            records.push_back(std::move(entry.first));
            requests += entry.second;
        }
        const UnixTime now = now_seconds();
        if (shared.stalled(now)) {
            // Another call has waited for the cache for seconds: it hangs.
            if (shared.mark_down(now, kRetryAfterFailure)) log_down(server_, store);
            drop(shared, requests);
            continue;
        }
        if (!shared.may_try(now, kRetryAfterFailure)) {
            drop(shared, requests);
            continue;
        }

        // The cache came back since this process last wrote (any process
        // may have seen it go): what this one listed may be gone.
        const std::uint64_t outages = shared.outages.load();
        if (outages != outages_seen_[i]) {
            writers_[i].forget();
            outages_seen_[i] = outages;
        }
        SocacheFleetCache cache(store, config_.mutex, server_, pool, &shared);
        const FlushReport report = writers_[i].flush(cache, records, now, sweep);

        if (report.failed) {
            count(&SharedCounters::fleet_write_failures);
            // What was not written is dropped: the records still pending,
            // counted as the requests they came from.
            std::uint64_t lost = 0;
            std::size_t n = 0;
            for (const auto& [mac, entry] : pending[i])
                if (n++ >= report.records_written) lost += entry.second;
            drop(shared, lost);
            // Found answering again while this call was under way, or
            // lately: the outage already logged, not a new one that would
            // silence every process of the server for another interval.
            if (shared.just_returned(now_seconds(), kRetryAfterFailure)) continue;
            if (shared.mark_down(now, kRetryAfterFailure)) log_down(server_, store);
            continue;
        }
        std::int64_t since = 0;
        if (shared.mark_up(now, since)) log_up(server_, store, since, now);
        if (!report.evicted_devices.empty() && !evictions_logged_) {
            evictions_logged_ = true;
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, server_,
                         PP_TAG(513) "fleet view: an index shard of %s is full (%u MACs: about %u devices on this "
                         "node); device %s, seen least recently there, left the view (logged once per process)",
                         store.spec.c_str(), static_cast<unsigned>(kShardCapacity),
                         static_cast<unsigned>(kShardCapacity * kIndexShards), report.evicted_devices.front().str().c_str());
        }
        if ((report.cache_evicted || report.records_evicted || report.manifest_lost) && !cache_evictions_logged_) {
            cache_evictions_logged_ = true;
            std::string what;
            if (report.cache_evicted) what = std::to_string(report.cache_evicted) + " device(s) of this node's index";
            if (report.records_evicted)
                what += (what.empty() ? "" : " and ") + std::to_string(report.records_evicted) + " device record(s)";
            if (report.manifest_lost) what += (what.empty() ? "" : " and ") + std::string("this node's summary");
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, server_,
                         PP_TAG(515) "fleet view: the cache %s lost %s (it was emptied, or is too small for the "
                         "fleet); the page says how many devices it may be missing, and they return to it when "
                         "they next check in. If the cache was not restarted, give it more room (see "
                         "PolyProvFleet) (logged once per process)",
                         store.spec.c_str(), what.c_str());
        }
        if (report.unreadable && !unreadable_logged_) {
            unreadable_logged_ = true;
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, server_,
                         PP_TAG(514) "fleet view: %" APR_SIZE_T_FMT " entr(y/ies) in %s could not be read and were replaced "
                         "(logged once per process)",
                         report.unreadable, store.spec.c_str());
        }
    }
}

}  // namespace polyprov::glue
