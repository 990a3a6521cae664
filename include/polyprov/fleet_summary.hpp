// The counters an operator reads first: who is missing, whose certificate
// runs out, who is refused, who probes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/fleet_reader.hpp>

namespace polyprov {

// What the status page and its counters are asked for.
struct FleetQuery {
    static constexpr std::size_t kDefaultPerPage = 100;
    static constexpr std::size_t kMaxPerPage = 1000;
    static constexpr std::size_t kMaxSearch = 64;

    enum class Format { html, json, counters, csv, metrics } format = Format::html;
    int not_seen_hours = 24;  // "not seen for N hours"
    int expiring_days = 30;   // "certificates expiring within N days"
    std::string search;       // q=: the devices whose MAC, label, model, firmware or address holds it
    std::size_t page = 1;     // the page's device table: page= (from 1), per_page=
    std::size_t per_page = kDefaultPerPage;
    std::size_t offset = 0;   // ?json: offset=, limit= (none: every device)
    std::optional<std::size_t> limit;
};

// The handler's query string: "json", "auto", "csv", "metrics", "hours=N", "days=N",
// "q=TEXT" (URL-encoded), "page=N", "per_page=N", "offset=N", "limit=N",
// separated by '&' (others are ignored). nullopt, with `error` set, for a
// value out of range or badly encoded.
std::optional<FleetQuery> parse_fleet_query(std::string_view args, std::string& error);

// The devices (records that authenticated as listed devices) that match
// `search` (all of them when it is empty), in MAC order. A search matches
// case-insensitively anywhere in the MAC (written with or without ':' or
// '-'), label, model, firmware or address.
std::vector<const DeviceRecord*> select_devices(const FleetSnapshot& snapshot, std::string_view search);

// The certificate's state as the page shows it: expired when the module
// said so or notAfter has passed by `now`.
bool certificate_expired(const DeviceRecord& r, UnixTime now) noexcept;
// Not expired, but notAfter falls within `days` of `now`.
bool certificate_expiring(const DeviceRecord& r, UnixTime now, int days) noexcept;
// Expired, but the last request was let through by the expiry waiver.
inline bool carried_by_waiver(const DeviceRecord& r) noexcept { return r.latest.waived; }

struct FleetSummary {
    std::size_t devices = 0;
    std::size_t not_seen = 0;         // devices last seen more than the query's hours ago
    std::size_t expired = 0;          // devices whose certificate has expired
    std::size_t expired_waived = 0;   // ... of which the waiver carried the last request
    std::size_t expiring = 0;         // not expired, expiring within the query's days
    std::size_t refused = 0;          // MACs refused as not-in-acl or unverified
    std::size_t probes = 0;           // (MAC, address, path) triples refused as mac-mismatch
    std::uint64_t probe_requests = 0;
    std::map<std::string, std::size_t> firmware;  // "" for unknown
    std::map<std::string, std::size_t> models;    // "" for unknown
};

FleetSummary summarize(const FleetSnapshot& snapshot, UnixTime now, const FleetQuery& query);

}  // namespace polyprov
