// The server's counters for ?metrics: one block of shared memory that every
// process of the server adds to, kept across graceful restarts the way
// mod_status keeps its scoreboard, and set to zero when the scoreboard is
// made anew (start, full restart).
#pragma once

#include "httpd.h"

#include <atomic>
#include <cstdint>

#include <polyprov/server_metrics.hpp>

namespace polyprov::glue {

struct SharedCounters {
    std::atomic<std::uint64_t> decisions[kFleetDecisions];
    std::atomic<std::uint64_t> waived_handshakes;
    std::atomic<std::uint64_t> uploads;
    std::atomic<std::uint64_t> upload_bytes;
    std::atomic<std::uint64_t> fleet_updates_dropped;
    std::atomic<std::uint64_t> fleet_write_failures;
    std::atomic<std::int64_t> since;
};

// Null until post_config has run in the parent (and in a process that
// never had it: the trial configuration pass of `apache2 -t`).
SharedCounters* server_counters() noexcept;

// Adds to a counter, if there are counters.
inline void count(std::atomic<std::uint64_t> SharedCounters::*counter, std::uint64_t n = 1) noexcept {
    if (SharedCounters* c = server_counters()) (c->*counter).fetch_add(n, std::memory_order_relaxed);
}

ServerCounters read_server_counters() noexcept;

}  // namespace polyprov::glue
