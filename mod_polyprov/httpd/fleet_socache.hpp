// The core's FleetCache on an Apache socache provider: get, and a
// read-modify-write under the fleet's global mutex, which serialises this
// server's writers (and, for providers that are not MP-safe such as shmcb,
// every access).
#pragma once

#include "httpd.h"

#include <memory>

#include <polyprov/fleet_cache.hpp>

#include "fleet_config.hpp"

namespace polyprov::glue {

// The largest entry the fleet writes (a full index shard, about 12 KiB)
// fits with room to spare.
inline constexpr unsigned kMaxFleetEntry = 32768;

class SocacheFleetCache : public FleetCache {
public:
    // `pool` takes the providers' temporary allocations; clear it between uses.
    // `shared` (may be null) learns when a call is under way, so others can
    // tell a cache that hangs (FleetSharedState::stalled).
    SocacheFleetCache(const FleetStore& store, apr_global_mutex_t* mutex, server_rec* s, apr_pool_t* pool,
                      FleetSharedState* shared = nullptr) noexcept
        : store_(store), mutex_(mutex), server_(s), pool_(pool), shared_(shared) {}
    ~SocacheFleetCache();
    SocacheFleetCache(const SocacheFleetCache&) = delete;
    SocacheFleetCache& operator=(const SocacheFleetCache&) = delete;

    Status get(std::string_view key, std::string& value) override;
    // With a provider that takes concurrent calls (memcache, redis), from
    // several threads at once: a round trip on loopback costs a few tens of
    // microseconds, mostly waiting, and a page reads one per device.
    void get_many(const std::vector<std::string>& keys, std::vector<Status>& statuses,
                  std::vector<std::string>& values) override;
    Status update(std::string_view key, UnixTime expires, const Change& change) override;
    Status remove(std::string_view key) override;

    bool hold() override;
    void release() override;

    // Stores `value` under `key` as it is (the restart carry-over).
    bool put(std::string_view key, std::string_view value, UnixTime expires);

    // One small write: does the cache answer?
    bool probe(UnixTime now) { return put("PPFP", "1", now + 60); }

private:
    Status retrieve(std::string_view key, std::string& value);
    // A pool for one provider call (memcache and redis allocate the key and
    // the value there): cleared every few calls, so reading 100,000 entries
    // for one page does not hold them all in the request's pool.
    apr_pool_t* scratch();

    const FleetStore& store_;
    apr_global_mutex_t* mutex_;
    server_rec* server_;
    apr_pool_t* pool_;
    FleetSharedState* shared_;
    std::unique_ptr<unsigned char[]> buffer_;  // for retrieve, made at the first
    apr_pool_t* scratch_ = nullptr;            // a subpool of pool_
    bool held_ = false;                        // the mutex is held (hold()): calls take it no more
    unsigned calls_ = 0;
};

}  // namespace polyprov::glue
