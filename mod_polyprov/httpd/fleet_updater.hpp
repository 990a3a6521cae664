// Each server process's fleet updater: requests hand their facts over
// through a bounded queue, and one background thread merges them per MAC
// and writes them to the cache about once a second. Nothing on a request's
// path waits for the cache; when the queue is full (the cache is slow or
// down), a request's facts are dropped and counted, never waited for.
#pragma once

#include "httpd.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <polyprov/fleet_record.hpp>
#include <polyprov/fleet_writer.hpp>

#include "fleet_config.hpp"

namespace polyprov::glue {

class FleetUpdater {
public:
    static constexpr std::size_t kQueueCapacity = 4096;
    static constexpr std::chrono::seconds kFlushInterval{1};
    // While the cache is down, one process of the server tries it again
    // this often (each failed try may log a line of the provider's own).
    static constexpr UnixTime kRetryAfterFailure = 10;
    static constexpr std::chrono::seconds kStopWait{3};  // what a stopping process gives the last flush
    // How long the server takes to rewrite every shard and record it
    // indexed (the sweep), at most half the entries' expiry: for a ring
    // (shmcb), short enough that the ring does not come round to a live
    // entry first (with the size the reference gives); for memcache and
    // redis, so that a counted shard that is gone was evicted, not expired.
    static constexpr UnixTime kRingSweep = 30;
    static constexpr UnixTime kSweep = 3600;
    // A flush sweeps at most this many shards (each with its records, under
    // the node's lock): catching up after an outage takes a few flushes
    // rather than holding the lock for seconds.
    static constexpr std::size_t kMaxSweepPerFlush = 32;

    // Starts this process's thread (child_init); null, logged, when it cannot.
    static FleetUpdater* start(FleetConfig& config, server_rec* s, apr_pool_t* pchild);
    // This process's updater, or null.
    static FleetUpdater* current() noexcept;

    // From any request thread: takes `event` for the store in `slot`.
    void submit(std::size_t slot, FleetEvent&& event) noexcept;

    // The state of a store changed (the status handler found it answering
    // again): logs it. For every caller of FleetSharedState's mark_*.
    static void log_down(server_rec* s, const FleetStore& store);
    static void log_up(server_rec* s, const FleetStore& store, UnixTime since, UnixTime now);

private:
    struct Queued {
        std::size_t slot;
        FleetEvent event;
    };

    FleetUpdater(FleetConfig& config, server_rec* s) : config_(config), server_(s) {}
    void run() noexcept;
    void flush(std::vector<Queued>& batch, apr_pool_t* pool);
    // The shards it is this process's turn to sweep in `store` now.
    static std::vector<std::size_t> claim_sweep(const FleetStore& store, FleetSharedState& shared);
    static apr_status_t stop(void* updater);

    FleetConfig& config_;
    server_rec* server_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Queued> queue_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> finished_{false};
    std::atomic<bool> queue_full_logged_{false};
    std::thread thread_;

    // The thread's own state, one of each per store.
    std::vector<FleetWriter> writers_;
    std::vector<std::uint64_t> outages_seen_;  // FleetSharedState::outages at the last flush
    bool evictions_logged_ = false;
    bool cache_evictions_logged_ = false;
    bool unreadable_logged_ = false;
};

}  // namespace polyprov::glue
