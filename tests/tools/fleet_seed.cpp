// A fleet of COUNT made-up phones as one node's FleetWriter records them,
// written out as redis commands for `redis-cli --pipe`, each key as
// mod_socache_redis makes it from the module's id (its namespace, ':', the
// id in lower-case hex). The page's tests at 100,000 devices use it: real
// handshakes take minutes to get there (tests/integration/test_fleet_scale.py
// does those at 5,000), and what is under test then is the page, which
// reads these entries through the module exactly as it reads its own.
//
// usage: fleet_seed NODE COUNT EXPIRE_SECONDS NOW NAMESPACE > commands
//   The phones' MACs are 64167F000000 + i * 7919 (spread over the index
//   shards as real MACs are); phone i's label is "seeded-i".

#include <polyprov/fleet_cache.hpp>
#include <polyprov/fleet_record.hpp>
#include <polyprov/fleet_writer.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace polyprov;

namespace {

class MapCache : public FleetCache {
public:
    struct Entry {
        std::string value;
        UnixTime expires;
    };
    std::map<std::string, Entry, std::less<>> entries;

    Status get(std::string_view key, std::string& value) override {
        const auto it = entries.find(key);
        if (it == entries.end()) return Status::missing;
        value = it->second.value;
        return Status::ok;
    }
    Status update(std::string_view key, UnixTime expires, const Change& change) override {
        const auto it = entries.find(key);
        auto next = change(it == entries.end() ? nullptr : &it->second.value);
        if (next) entries[std::string(key)] = {std::move(*next), expires};
        return Status::ok;
    }
    Status remove(std::string_view key) override {
        const auto it = entries.find(key);
        if (it == entries.end()) return Status::missing;
        entries.erase(it);
        return Status::ok;
    }
};

const char* const kAgents[] = {
    "FileTransport PolycomVVX-VVX_411-UA/6.4.3.5156 Type/Application",
    "FileTransport PolycomVVX-VVX_501-UA/6.4.3.5156 Type/Application",
    "FileTransport PolycomSoundPointIP-SPIP_650-UA/4.0.15.1009 Type/Application",
    "FileTransport PolycomVVX-VVX_250-UA/6.3.1.8427 Type/Application",
};

FleetEvent phone(std::size_t i, UnixTime now) {
    char mac[13];
    std::snprintf(mac, sizeof mac, "%012llX", static_cast<unsigned long long>(0x64167F000000ull + i * 7919));
    char address[32];
    std::snprintf(address, sizeof address, "10.%zu.%zu.%zu", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    FleetEvent e;
    // Spread over the last hour, so the page's order by time means something.
    e.time = (now - static_cast<UnixTime>(i % 3600)) * kMicrosPerSecond;
    e.mac = Mac::parse(mac);
    e.authenticated = true;
    e.decision = FleetDecision::allow;
    e.label = "seeded-" + std::to_string(i);
    e.method = "GET";
    e.path = std::string("/") + mac + ".cfg";
    e.status = 200;
    e.address = address;
    e.user_agent = kAgents[i % (sizeof kAgents / sizeof *kAgents)];
    e.cert_not_after = now + static_cast<UnixTime>(365 + i % 3000) * 86400;
    return e;
}

void bulk(std::string& out, const std::string& s) {
    out += '$';
    out += std::to_string(s.size());
    out += "\r\n";
    out += s;
    out += "\r\n";
}

std::string hex(const std::string& id) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : id) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::cerr << "usage: fleet_seed NODE COUNT EXPIRE_SECONDS NOW NAMESPACE\n";
        return 2;
    }
    const std::string node = argv[1];
    const std::size_t count = std::strtoull(argv[2], nullptr, 10);
    const std::int64_t expire = std::strtoll(argv[3], nullptr, 10);
    const UnixTime now = std::strtoll(argv[4], nullptr, 10);
    const std::string tag = std::string(argv[5]) + ":";

    MapCache cache;
    FleetWriter writer(node, expire);
    // In batches, as the module's updater flushes them.
    for (std::size_t from = 0; from < count; from += 1000) {
        std::vector<DeviceRecord> batch;
        for (std::size_t i = from; i < std::min(count, from + 1000); ++i) batch.push_back(record_of(phone(i, now)));
        if (writer.flush(cache, batch, now).failed) return 1;
    }

    std::string out;
    for (const auto& [key, entry] : cache.entries) {
        out += "*4\r\n";
        bulk(out, "SETEX");
        bulk(out, tag + hex(key));
        bulk(out, std::to_string(entry.expires - now));
        bulk(out, entry.value);
        if (out.size() > (1u << 20)) {
            std::cout << out;
            out.clear();
        }
    }
    std::cout << out << std::flush;
    std::cerr << cache.entries.size() << " entries for " << count << " phones\n";
    return std::cout ? 0 : 1;
}
