#include "fleet_socache.hpp"

#include <memory>

namespace polyprov::glue {
namespace {

class Locked {
public:
    Locked(apr_global_mutex_t* mutex, bool wanted) noexcept : mutex_(wanted ? mutex : nullptr) {
        ok_ = !mutex_ || apr_global_mutex_lock(mutex_) == APR_SUCCESS;
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

// Marks a provider call under way (the first of several concurrent ones
// sets the time; any that returns clears it).
class Waiting {
public:
    explicit Waiting(FleetSharedState* shared) noexcept : shared_(shared) {
        if (!shared_) return;
        std::int64_t none = 0;
        shared_->waiting_since.compare_exchange_strong(none, apr_time_sec(apr_time_now()));
    }
    ~Waiting() {
        if (shared_) shared_->waiting_since.store(0);
    }
    Waiting(const Waiting&) = delete;
    Waiting& operator=(const Waiting&) = delete;

private:
    FleetSharedState* shared_;
};

}  // namespace

SocacheFleetCache::~SocacheFleetCache() {
    if (scratch_) apr_pool_destroy(scratch_);
}

apr_pool_t* SocacheFleetCache::scratch() {
    constexpr unsigned kCallsPerClear = 64;
    if (!scratch_) {
        if (apr_pool_create(&scratch_, pool_) != APR_SUCCESS) {
            scratch_ = nullptr;
            return pool_;
        }
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
    const Locked lock(mutex_, store_.needs_lock);
    if (!lock.ok()) return Status::failed;
    return retrieve(key, value);
}

FleetCache::Status SocacheFleetCache::update(std::string_view key, UnixTime expires, const Change& change) {
    const Locked lock(mutex_, true);
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

bool SocacheFleetCache::put(std::string_view key, std::string_view value, UnixTime expires) {
    const Locked lock(mutex_, true);
    std::string copy(value);
    const Waiting waiting(shared_);
    return lock.ok() &&
           store_.provider->store(store_.instance, server_, id(key), static_cast<unsigned int>(key.size()),
                                  apr_time_from_sec(expires), reinterpret_cast<unsigned char*>(copy.data()),
                                  static_cast<unsigned int>(copy.size()), scratch()) == APR_SUCCESS;
}

}  // namespace polyprov::glue
