// Shared by the fleet's unit tests: events and records to build fleets
// from, and an in-memory cache that can be told to fail.
#pragma once

#include <map>
#include <random>
#include <string>

#include <polyprov/fleet_cache.hpp>
#include <polyprov/fleet_record.hpp>

namespace polyprov::test {

inline constexpr UnixTime kNow = 1767225600;  // 2026-01-01T00:00:00Z

inline Mac mac(const char* text) { return *Mac::parse(text); }

// Seconds as a record's event time (microseconds).
constexpr EventTime us(UnixTime seconds) { return seconds * kMicrosPerSecond; }

// An allowed GET of the phone's own config from a VVX 500, at `t` seconds.
inline FleetEvent fetch(const char* m, UnixTime t, const char* path = "/0004F2000001.cfg") {
    FleetEvent e;
    e.time = us(t);
    e.mac = mac(m);
    e.authenticated = true;
    e.decision = FleetDecision::allow;
    e.label = "desk";
    e.method = "GET";
    e.path = path;
    e.status = 200;
    e.address = "192.0.2.10";
    e.user_agent = "FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application";
    e.cert_not_after = kNow + 3650 * 86400;
    return e;
}

// A record with a bit of everything, from a seeded generator.
FleetEvent random_event(std::mt19937& rng, Mac m);
DeviceRecord random_record(std::mt19937& rng, Mac m);

class MemoryCache : public FleetCache {
public:
    struct Entry {
        std::string value;
        UnixTime expires;
    };
    std::map<std::string, Entry> entries;
    int fail_after = -1;  // operations before every further one fails; -1: never
    int operations = 0;

    Status get(std::string_view key, std::string& value) override {
        if (failing()) return Status::failed;
        const auto it = entries.find(std::string(key));
        if (it == entries.end()) return Status::missing;
        value = it->second.value;
        return Status::ok;
    }
    Status update(std::string_view key, UnixTime expires, const Change& change) override {
        if (failing()) return Status::failed;
        const auto it = entries.find(std::string(key));
        auto next = change(it == entries.end() ? nullptr : &it->second.value);
        if (next) entries[std::string(key)] = {std::move(*next), expires};
        return Status::ok;
    }

    Status remove(std::string_view key) override {
        if (failing()) return Status::failed;
        return entries.erase(std::string(key)) ? Status::ok : Status::missing;
    }

private:
    bool failing() { return fail_after >= 0 && operations++ >= fail_after; }
};

}  // namespace polyprov::test
