// What the fleet view needs of a cache. In the module it is an Apache
// socache provider (shmcb, memcache, redis); in the unit tests a map.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/time_text.hpp>

namespace polyprov {

class FleetCache {
public:
    enum class Status { ok, missing, failed };  // failed: the cache did not answer

    virtual ~FleetCache() = default;

    virtual Status get(std::string_view key, std::string& value) = 0;

    // get() for each of `keys`: statuses[i] and values[i] for keys[i]. This
    // one reads them one after another; a cache whose round trips can
    // overlap (memcache, redis over a socket) reads several at once, which
    // is what lets a page read 100,000 records in seconds.
    virtual void get_many(const std::vector<std::string>& keys, std::vector<Status>& statuses,
                          std::vector<std::string>& values) {
        statuses.assign(keys.size(), Status::missing);
        values.assign(keys.size(), std::string());
        for (std::size_t i = 0; i < keys.size(); ++i)
            if ((statuses[i] = get(keys[i], values[i])) == Status::failed) return;
    }

    // One read-modify-write of `key` under the lock that serialises this
    // node's writers: `change` sees the current value (null when there is
    // none) and returns the new one, stored to expire at `expires`, or
    // nullopt to leave the entry as it is.
    using Change = std::function<std::optional<std::string>(const std::string* current)>;
    virtual Status update(std::string_view key, UnixTime expires, const Change& change) = 0;

    // Drops `key` if the cache holds it (missing when it did not).
    virtual Status remove(std::string_view key) = 0;

    // Holds that lock across every call until release(): a writer's
    // changes to the index, its manifest and its summary, which count one
    // another, are one step for the node's other writers. false when the
    // lock cannot be had.
    virtual bool hold() { return true; }
    virtual void release() {}
};

}  // namespace polyprov
