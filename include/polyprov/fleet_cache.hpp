// What the fleet view needs of a cache. In the module it is an Apache
// socache provider (shmcb, memcache, redis); in the unit tests a map.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <polyprov/time_text.hpp>

namespace polyprov {

class FleetCache {
public:
    enum class Status { ok, missing, failed };  // failed: the cache did not answer

    virtual ~FleetCache() = default;

    virtual Status get(std::string_view key, std::string& value) = 0;

    // One read-modify-write of `key` under the lock that serialises this
    // node's writers: `change` sees the current value (null when there is
    // none) and returns the new one, stored to expire at `expires`, or
    // nullopt to leave the entry as it is.
    using Change = std::function<std::optional<std::string>(const std::string* current)>;
    virtual Status update(std::string_view key, UnixTime expires, const Change& change) = 0;
};

}  // namespace polyprov
