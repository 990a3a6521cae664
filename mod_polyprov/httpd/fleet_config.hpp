// PolyProvFleet and PolyProvFleetExpire: which Apache socache provider keeps
// the fleet view, for which virtual host, for how long.
//
// Kept beside, not in, the module's per-server configuration: a table keyed
// by server_rec, one per configuration generation (pconf), resolved once
// the whole configuration has been read. Every virtual host that names the
// same provider and arguments shares one cache instance, so a shmcb segment
// is never opened twice.
#pragma once

#include "httpd.h"
#include "http_config.h"
#include "ap_socache.h"
#include "apr_global_mutex.h"

#include <array>
#include <cerrno>
#include <csignal>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <polyprov/fleet_writer.hpp>

namespace polyprov::glue {

inline constexpr std::int64_t kDefaultFleetExpire = 30 * 86400;
// memcached takes an expiry of more than 30 days for a Unix time (in 1970).
inline constexpr std::int64_t kMemcacheMaxExpire = 30 * 86400;

// What every server process of this configuration shares about one cache,
// in shared memory.
struct FleetSharedState {
    // A cache call that takes this long means the server hangs (memcache
    // calls have no read timeout of their own).
    static constexpr std::int64_t kStalledAfter = 5;

    std::atomic<std::int64_t> down_since{0};    // 0: the cache answers
    std::atomic<std::int64_t> next_attempt{0};  // while down: when one process may try again
    std::atomic<std::uint64_t> outages{0};      // how many times the cache came back: it may be empty
    std::atomic<std::int64_t> returned_at{0};   // when it last came back
    // The sweep (FleetWriter::flush): shards rewritten so far, counted from
    // when the first process began, so that the server as a whole sweeps
    // at one rate however many processes it has.
    std::atomic<std::int64_t> sweep_started_ms{0};
    std::atomic<std::int64_t> swept{0};
    // Reads of the whole view under way (the page, ?json, ?csv, ?auto,
    // ?metrics): at 100,000 devices each takes seconds and some 100 MB, so
    // the server does only a few at once.
    static constexpr int kMaxReaders = 2;
    std::atomic<int> readers{0};
    // What this node's summary last counted, and the decided requests it
    // could not record (FleetWriter, read_fleet).
    NodeTally tally;

    // Cache calls under way, each as (when it began << 32 | its process's
    // pid), 0 for a free place: a place per call, so that one that returns
    // does not hide another that still waits. Calls beyond them go
    // unmarked; any that waits too long among them shows all the same.
    static constexpr std::size_t kWaitPlaces = 64;
    std::array<std::atomic<std::uint64_t>, kWaitPlaces> waiting{};
    static std::uint64_t waiting_mark(std::int64_t since, pid_t pid) noexcept {
        return static_cast<std::uint64_t>(since) << 32 | static_cast<std::uint32_t>(pid);
    }

    // A call has been waiting for the cache for kStalledAfter or more: do
    // not add another thread to the wait. The place of a process that died
    // waiting (a stuck call it left behind at exit, a crash) is freed: its
    // call will never return to free it.
    bool stalled(std::int64_t now) noexcept {
        for (auto& place : waiting) {
            std::uint64_t mark = place.load(std::memory_order_relaxed);
            if (mark == 0 || now - static_cast<std::int64_t>(mark >> 32) < kStalledAfter) continue;
            const auto pid = static_cast<pid_t>(mark & 0xffffffffu);
            if (kill(pid, 0) != 0 && errno == ESRCH) {
                place.compare_exchange_strong(mark, 0);
                continue;
            }
            return true;
        }
        return false;
    }

    // While the cache is down, true for one caller per retry interval (it
    // tries the cache), false for everyone else (they do not); always true
    // while the cache answers.
    bool may_try(std::int64_t now, std::int64_t interval) noexcept {
        if (down_since.load() == 0) return true;
        std::int64_t next = next_attempt.load();
        return now >= next && next_attempt.compare_exchange_strong(next, now + interval);
    }
    // The first caller that sees a change of state gets true (and logs it).
    bool mark_down(std::int64_t now, std::int64_t interval) noexcept {
        next_attempt.store(now + interval);
        std::int64_t up = 0;
        return down_since.compare_exchange_strong(up, now);
    }
    bool mark_up(std::int64_t now, std::int64_t& was_down_since) noexcept {
        was_down_since = down_since.load();
        const bool changed = was_down_since != 0 && down_since.compare_exchange_strong(was_down_since, 0);
        if (changed) {
            returned_at.store(now);
            outages.fetch_add(1);
        }
        return changed;
    }
    // The cache came back less than `interval` ago: a process's failed call
    // now may be what the provider still holds from the outage (a pooled
    // connection, apr_memcache/apr_redis taking the server for dead for
    // 5 s after that process's own failed try), not a new outage.
    bool just_returned(std::int64_t now, std::int64_t interval) const noexcept {
        const std::int64_t at = returned_at.load();
        return at != 0 && now < at + interval;
    }
};

struct FleetStore {
    std::string spec;                          // "memcache:127.0.0.1:11211", as written
    std::string provider_name;                 // "memcache"
    const ap_socache_provider_t* provider = nullptr;
    ap_socache_instance_t* instance = nullptr;
    bool needs_lock = false;                   // AP_SOCACHE_FLAG_NOTMPSAFE (shmcb)
    bool ring = false;                         // drops its oldest writes first (shmcb): swept often
    std::int64_t expire = 0;                   // resolved; 0 until then
    const char* expire_where = nullptr;        // the PolyProvFleetExpire line it came from, if any
    const char* where = nullptr;               // file:line of its PolyProvFleet
    bool used = false;                         // some server records into it
    std::size_t slot = 0;                      // its FleetSharedState
    server_rec* server = nullptr;              // for the provider's logging, once set up
};

struct FleetServerSettings {
    bool store_set = false;                    // PolyProvFleet appeared in this context
    FleetStore* store = nullptr;               // null: none
    std::int64_t expire = 0;                   // 0: unset
    const char* expire_where = nullptr;
};

class FleetConfig {
public:
    // This generation's table, created on first use and freed with `pconf`.
    static FleetConfig& of(apr_pool_t* pconf);
    // Null when `pconf` holds none (no fleet directive was read).
    static FleetConfig* find(apr_pool_t* pconf);

    FleetServerSettings& settings(const server_rec* s) { return settings_[s]; }
    FleetStore* find_store(const std::string& spec) noexcept;
    FleetStore* add_store(std::unique_ptr<FleetStore> store);

    // Decides which store each server records into and each store's expiry
    // (a virtual host inherits from the main server). Logs each conflict
    // and returns false when there is one.
    bool resolve(server_rec* main_server);

    FleetStore* store_for(const server_rec* s) const noexcept {
        const auto it = resolved_.find(s);
        return it == resolved_.end() ? nullptr : it->second;
    }
    const std::vector<std::unique_ptr<FleetStore>>& stores() const noexcept { return stores_; }
    bool any_used() const noexcept;

    // Set up by post_config for the server processes.
    apr_global_mutex_t* mutex = nullptr;
    FleetSharedState* shared = nullptr;        // one per store, by slot
    std::string node;                          // this server's name in the fleet view

private:
    std::vector<std::unique_ptr<FleetStore>> stores_;
    std::unordered_map<const server_rec*, FleetServerSettings> settings_;
    std::unordered_map<const server_rec*, FleetStore*> resolved_;
};

// The generation the server processes serve (set by post_config), or null
// when no virtual host records a fleet.
FleetConfig* serving_fleet() noexcept;

}  // namespace polyprov::glue
