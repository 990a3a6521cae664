#include "fleet_socache.hpp"

#include "ap_mpm.h"

#include <cerrno>
#include <csignal>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace polyprov::glue {
namespace {

// fcntl() locks (Debian's `Mutex file:... default`) belong to processes,
// not threads, and the kernel's deadlock check sees a cycle where there is
// none: process A's main thread holds prefork's accept mutex while A's
// updater thread waits for this one, held by B, whose main thread waits for
// the accept mutex. It answers EDEADLK; a moment later the lock is free.
// Seen under load with prefork: a flush failed and the node's records were
// dropped as if the cache were down.
apr_status_t lock_patiently(apr_global_mutex_t* mutex) noexcept {
    constexpr int kTries = 200;  // 1 ms apart
    apr_status_t rv = APR_SUCCESS;
    for (int i = 0; i < kTries; ++i) {
        if ((rv = apr_global_mutex_lock(mutex)) != EDEADLK) return rv;
        apr_sleep(apr_time_from_msec(1));
    }
    return rv;
}

class Locked {
public:
    // `wanted` false: the caller needs no lock, or holds it already.
    Locked(apr_global_mutex_t* mutex, bool wanted) noexcept : mutex_(wanted ? mutex : nullptr) {
        ok_ = !mutex_ || lock_patiently(mutex_) == APR_SUCCESS;
        if (!ok_) mutex_ = nullptr;
    }
    ~Locked() {
        if (mutex_) apr_global_mutex_unlock(mutex_);
    }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;
    bool ok() const noexcept { return ok_; }

private:
    apr_global_mutex_t* mutex_;
    bool ok_;
};

const unsigned char* id(std::string_view key) { return reinterpret_cast<const unsigned char*>(key.data()); }

// Marks a provider call under way, in a place of its own while there is
// one (FleetSharedState::waiting).
class Waiting {
public:
    explicit Waiting(FleetSharedState* shared) noexcept {
        if (!shared) return;
        const pid_t pid = getpid();
        const std::uint64_t mark = FleetSharedState::waiting_mark(apr_time_sec(apr_time_now()), pid);
        // Where a thread starts looking: by process and thread, so that the
        // threads of a process, and prefork's children, spread out.
        const std::size_t first = std::hash<std::thread::id>()(std::this_thread::get_id()) ^ (static_cast<std::size_t>(pid) * 7);
        for (std::size_t i = 0; i < FleetSharedState::kWaitPlaces; ++i) {
            auto& place = shared->waiting[(first + i) % FleetSharedState::kWaitPlaces];
            std::uint64_t free = 0;
            if (place.compare_exchange_strong(free, mark)) {
                place_ = &place;
                return;
            }
        }
    }
    ~Waiting() {
        if (place_) place_->store(0);
    }
    Waiting(const Waiting&) = delete;
    Waiting& operator=(const Waiting&) = delete;

private:
    std::atomic<std::uint64_t>* place_ = nullptr;
};

}  // namespace

SocacheFleetCache::~SocacheFleetCache() {
    release();
    if (scratch_) apr_pool_destroy(scratch_);
}

apr_pool_t* SocacheFleetCache::scratch() {
    constexpr unsigned kCallsPerClear = 64;
    if (!scratch_) {
        // With an allocator of its own: get_many's threads each use one,
        // and pool_'s (a worker thread's) takes no lock.
        apr_allocator_t* allocator = nullptr;
        if (apr_allocator_create(&allocator) != APR_SUCCESS) return pool_;
        if (apr_pool_create_ex(&scratch_, pool_, nullptr, allocator) != APR_SUCCESS) {
            apr_allocator_destroy(allocator);
            scratch_ = nullptr;
            return pool_;
        }
        apr_allocator_owner_set(allocator, scratch_);
    } else if (++calls_ % kCallsPerClear == 0) {
        apr_pool_clear(scratch_);
    }
    return scratch_;
}

FleetCache::Status SocacheFleetCache::retrieve(std::string_view key, std::string& value) {
    if (!buffer_) buffer_ = std::make_unique<unsigned char[]>(kMaxFleetEntry);
    unsigned int length = kMaxFleetEntry;
    const Waiting waiting(shared_);
    const apr_status_t rv = store_.provider->retrieve(store_.instance, server_, id(key),
                                                      static_cast<unsigned int>(key.size()), buffer_.get(), &length, scratch());
    if (rv == APR_NOTFOUND) return Status::missing;
    if (rv == APR_ENOMEM) {
        value.clear();  // larger than anything the fleet writes: unreadable, not a failure
        return Status::ok;
    }
    if (rv != APR_SUCCESS) return Status::failed;
    value.assign(reinterpret_cast<const char*>(buffer_.get()), length);
    return Status::ok;
}

FleetCache::Status SocacheFleetCache::get(std::string_view key, std::string& value) {
    const Locked lock(mutex_, store_.needs_lock && !held_);
    if (!lock.ok()) return Status::failed;
    return retrieve(key, value);
}

FleetCache::Status SocacheFleetCache::update(std::string_view key, UnixTime expires, const Change& change) {
    const Locked lock(mutex_, !held_);
    if (!lock.ok()) return Status::failed;
    std::string current;
    const Status found = retrieve(key, current);
    if (found == Status::failed) return Status::failed;
    std::optional<std::string> next = change(found == Status::ok ? &current : nullptr);
    if (!next) return Status::ok;
    const Waiting waiting(shared_);
    const apr_status_t rv = store_.provider->store(
        store_.instance, server_, id(key), static_cast<unsigned int>(key.size()), apr_time_from_sec(expires),
        reinterpret_cast<unsigned char*>(next->data()), static_cast<unsigned int>(next->size()), scratch());
    return rv == APR_SUCCESS ? Status::ok : Status::failed;
}

FleetCache::Status SocacheFleetCache::remove(std::string_view key) {
    const Locked lock(mutex_, !held_);
    if (!lock.ok()) return Status::failed;
    const Waiting waiting(shared_);
    const apr_status_t rv =
        store_.provider->remove(store_.instance, server_, id(key), static_cast<unsigned int>(key.size()), scratch());
    if (rv == APR_SUCCESS) return Status::ok;
    return rv == APR_NOTFOUND ? Status::missing : Status::failed;
}

void SocacheFleetCache::get_many(const std::vector<std::string>& keys, std::vector<Status>& statuses,
                                 std::vector<std::string>& values) {
    // Enough to keep the cache server busy; more only adds threads waiting.
    constexpr std::size_t kThreads = 8;
    constexpr std::size_t kAtOnce = 64;  // keys a thread takes at a time
    // prefork: one connection a process (the providers size their pools by
    // the MPM's threads), and no threads of ours beside its signal handling.
    int threaded = 0;
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) != APR_SUCCESS) threaded = 0;
    if (store_.needs_lock || !threaded || keys.size() < 2 * kAtOnce) {
        FleetCache::get_many(keys, statuses, values);
        return;
    }
    statuses.assign(keys.size(), Status::missing);
    values.assign(keys.size(), std::string());
    // Each thread its own SocacheFleetCache: its own buffer and pool. The
    // pools are made and destroyed here, on this thread.
    const std::size_t n = std::min(kThreads, (keys.size() + kAtOnce - 1) / kAtOnce);
    std::vector<std::unique_ptr<SocacheFleetCache>> readers;
    for (std::size_t t = 0; t < n; ++t)
        readers.push_back(std::make_unique<SocacheFleetCache>(store_, mutex_, server_, pool_, shared_));
    for (auto& reader : readers)
        if (reader->scratch() == pool_) {  // no pool of its own: not on another thread
            FleetCache::get_many(keys, statuses, values);
            return;
        }
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    const auto work = [&](SocacheFleetCache& reader) noexcept {
        try {
            while (!failed) {
                const std::size_t from = next.fetch_add(kAtOnce);
                if (from >= keys.size()) return;
                for (std::size_t i = from; i < std::min(keys.size(), from + kAtOnce); ++i)
                    if ((statuses[i] = reader.retrieve(keys[i], values[i])) == Status::failed) failed = true;
            }
        } catch (...) {
            failed = true;
        }
    };
    std::vector<std::thread> threads;
    // The readers take no signals: httpd's handlers must run on the
    // threads they expect (as the fleet updater's).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        for (std::size_t t = 1; t < n; ++t) threads.emplace_back(work, std::ref(*readers[t]));
    } catch (...) {
        // No thread to be had: the ones there are, and this one, do it all.
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    work(*readers[0]);
    for (auto& t : threads) t.join();
    if (failed)
        for (Status& st : statuses)
            if (st != Status::ok) st = Status::failed;
}

bool SocacheFleetCache::hold() {
    if (held_) return true;
    held_ = lock_patiently(mutex_) == APR_SUCCESS;
    return held_;
}

void SocacheFleetCache::release() {
    if (!held_) return;
    apr_global_mutex_unlock(mutex_);
    held_ = false;
}

bool SocacheFleetCache::put(std::string_view key, std::string_view value, UnixTime expires) {
    const Locked lock(mutex_, !held_);
    std::string copy(value);
    const Waiting waiting(shared_);
    return lock.ok() &&
           store_.provider->store(store_.instance, server_, id(key), static_cast<unsigned int>(key.size()),
                                  apr_time_from_sec(expires), reinterpret_cast<unsigned char*>(copy.data()),
                                  static_cast<unsigned int>(copy.size()), scratch()) == APR_SUCCESS;
}

}  // namespace polyprov::glue
