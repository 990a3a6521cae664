// The fleet view's record of one MAC: what the module decided about the
// requests that named it, as one server saw them or as several did together.
//
// A record is built from events (one per decided request) and records are
// combined with merge(), which gives the same result in any order: counts
// add up, first_seen takes the earliest time and every "last" fact comes
// from the newest request. A server folds its own events into its own
// record; the status page merges the records of every server.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/mac.hpp>
#include <polyprov/time_text.hpp>

namespace polyprov {

// When a request started, in microseconds since 1970 (UTC), as httpd's
// request_time: a phone's requests come within the same second, and
// "newest" must still mean the one that came last.
using EventTime = std::int64_t;
inline constexpr EventTime kMicrosPerSecond = 1000000;
inline constexpr UnixTime seconds_of(EventTime t) noexcept { return t / kMicrosPerSecond; }

// POLYPROV_DECISION's vocabulary. `error` stands for anything else the
// module may set (deny:error), so no decided request is lost.
enum class FleetDecision : std::uint8_t {
    allow, no_cert, unverified, cn_no_mac, not_in_acl, mac_mismatch, not_writable, error, not_shared
};
inline constexpr std::size_t kFleetDecisions = 9;

// "allow" or "deny:<reason>"; nullopt for anything that is not a decision.
std::optional<FleetDecision> parse_decision(std::string_view text) noexcept;
// "allow", or the reason without "deny:" ("not-in-acl").
const char* decision_reason(FleetDecision d) noexcept;
// "allow" or "deny:<reason>", as POLYPROV_DECISION says it.
std::string decision_text(FleetDecision d);

// One request the module decided, naming a MAC.
struct FleetEvent {
    EventTime time = 0;
    std::optional<Mac> mac;      // the MAC the certificate's CN claims
    bool authenticated = false;  // the certificate proves that MAC (verified, or pinned)
    FleetDecision decision = FleetDecision::allow;
    std::string label;           // the ACL's label for the MAC
    std::string method, path, address, user_agent;
    int status = 0;              // the final HTTP status
    UnixTime cert_not_after = 0; // 0: unknown
    bool cert_expired = false;   // POLYPROV_CERT_EXPIRED
    bool waived = false;         // verified only because the expiry was waived
    bool pinned = false;         // admitted by its pinned fingerprint, not by a CA
    std::optional<std::uint64_t> body_bytes;  // a PUT's body length, when known
};

// What a record keeps of client-supplied text, at most (longer is cut).
inline constexpr std::size_t kMaxLabel = 128;
inline constexpr std::size_t kMaxMethod = 16;
inline constexpr std::size_t kMaxPath = 256;
inline constexpr std::size_t kMaxAddress = 64;
inline constexpr std::size_t kMaxUserAgent = 256;
inline constexpr std::size_t kMaxAgentPart = 32;
inline constexpr std::size_t kMaxProbes = 8;  // per MAC, the most recent (address, path) pairs

struct LastRequest {
    EventTime time = 0;
    std::string method, path;
    int status = 0;
    FleetDecision decision = FleetDecision::allow;
};

// The facts of the newest request that came from the device itself.
struct DeviceFacts {
    EventTime time = 0;  // last_seen; 0: the MAC never authenticated as a listed device
    std::string label, address, user_agent;
    UnixTime cert_not_after = 0;
    bool cert_expired = false, waived = false, pinned = false;
    LastRequest request;
};

// Model and firmware from the newest User-Agent that named them: a browser
// request without them does not erase what the phone's own client said.
struct AgentFacts {
    EventTime time = 0;
    std::string model, firmware;
};

struct UploadFacts {
    EventTime time = 0;
    std::optional<std::uint64_t> bytes;
};

// The newest refusal of one kind: the phone an operator must add, or a
// certificate that does not verify.
struct RefusalFacts {
    EventTime last_seen = 0;
    std::string address;
};

// A listed, authenticated device that asked for another phone's file.
struct Probe {
    std::string address, path;
    std::uint32_t count = 0;
    EventTime last_seen = 0;
};

struct DeviceRecord {
    explicit DeviceRecord(Mac m) : mac(m) {}

    Mac mac;
    EventTime first_seen = 0;
    DeviceFacts latest;
    AgentFacts agent;
    EventTime last_config_fetch = 0;
    UploadFacts last_upload;
    std::array<std::uint32_t, kFleetDecisions> denials{};  // by decision; [allow] stays 0
    RefusalFacts unverified, not_in_acl;
    std::vector<Probe> probes;  // newest first

    // The MAC authenticated as a listed device at least once.
    bool is_device() const noexcept { return latest.time != 0; }
    // Newest activity of any kind, for expiry.
    EventTime last_activity() const noexcept;
};

// The record one event makes on its own. Only an authenticated request of a
// listed device (allowed, or denied for its path or its upload) touches the
// device's facts; a claim that did not authenticate counts as a refusal
// only, so nobody can make a dead phone look alive with its MAC in a CN.
DeviceRecord record_of(const FleetEvent& event);

// Adds what `other` knows about the same MAC to `into`.
void merge(DeviceRecord& into, const DeviceRecord& other);

// merge(record, record_of(event)), the same record to the byte. The
// common case (an allowed request newer than all the record holds) is
// written in place, without building the event's own record: the fleet
// updater applies every request this way.
void apply(DeviceRecord& record, const FleetEvent& event);

// Versioned, compact bytes for a cache. decode() accepts exactly what
// encode() writes (and records of the layout before not-shared, with eight
// denial counts): anything else (other versions, cut or padded input,
// out-of-range values, over-long text) is nullopt, never a crash.
std::string encode(const DeviceRecord& record);
std::optional<DeviceRecord> decode_device_record(std::string_view bytes) noexcept;

}  // namespace polyprov
