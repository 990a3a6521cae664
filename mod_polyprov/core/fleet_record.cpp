#include <polyprov/fleet_record.hpp>

#include <algorithm>
#include <limits>
#include <tuple>

#include <polyprov/user_agent.hpp>

#include "fleet_codec.hpp"

namespace polyprov {
namespace {

using detail::capped;

constexpr const char* kReasons[kFleetDecisions] = {"allow",      "no-cert",      "unverified",   "cn-no-mac",
                                                   "not-in-acl", "mac-mismatch", "not-writable", "error",
                                                   "not-shared"};

std::uint32_t saturating_add(std::uint32_t a, std::uint32_t b) noexcept {
    return a > std::numeric_limits<std::uint32_t>::max() - b ? std::numeric_limits<std::uint32_t>::max() : a + b;
}

EventTime clamp_event_time(EventTime t) noexcept { return std::clamp<EventTime>(t, 0, detail::kMaxEventTime); }
UnixTime clamp_time(UnixTime t) noexcept { return std::clamp<UnixTime>(t, 0, detail::kMaxTime); }

EventTime earliest_known(EventTime a, EventTime b) noexcept {
    if (a == 0) return b;
    if (b == 0) return a;
    return std::min(a, b);
}

// The newer of two facts wins; equal times fall to a comparison of the
// contents, so that merging in either order gives the same record.
auto key(const LastRequest& r) { return std::tie(r.time, r.status, r.decision, r.method, r.path); }
auto key(const DeviceFacts& f) {
    return std::tie(f.time, f.label, f.address, f.user_agent, f.cert_not_after, f.cert_expired, f.waived, f.pinned);
}
auto key(const AgentFacts& a) { return std::tie(a.time, a.model, a.firmware); }
auto key(const UploadFacts& u) { return std::tie(u.time, u.bytes); }
auto key(const RefusalFacts& r) { return std::tie(r.last_seen, r.address); }

bool newer(const DeviceFacts& a, const DeviceFacts& b) {
    return key(a) != key(b) ? key(a) > key(b) : key(a.request) > key(b.request);
}
template <typename T>
bool newer(const T& a, const T& b) {
    return key(a) > key(b);
}

template <typename T>
void take_newer(T& into, const T& other) {
    if (newer(other, into)) into = other;
}

bool ends_with_cfg(std::string_view path) {
    if (path.size() < 4) return false;
    std::string tail(path.substr(path.size() - 4));
    for (char& c : tail) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return tail == ".cfg";
}

bool is_device_decision(FleetDecision d) noexcept {
    return d == FleetDecision::allow || d == FleetDecision::mac_mismatch || d == FleetDecision::not_writable ||
           d == FleetDecision::not_shared || d == FleetDecision::error;
}

void merge_probes(std::vector<Probe>& into, const std::vector<Probe>& other) {
    for (const Probe& p : other) {
        auto same = std::find_if(into.begin(), into.end(),
                                 [&](const Probe& q) { return q.address == p.address && q.path == p.path; });
        if (same == into.end()) {
            into.push_back(p);
        } else {
            same->count = saturating_add(same->count, p.count);
            same->last_seen = std::max(same->last_seen, p.last_seen);
        }
    }
    std::sort(into.begin(), into.end(), [](const Probe& a, const Probe& b) {
        return std::tie(b.last_seen, a.address, a.path) < std::tie(a.last_seen, b.address, b.path);
    });
    if (into.size() > kMaxProbes) into.resize(kMaxProbes);
}

}  // namespace

std::optional<FleetDecision> parse_decision(std::string_view text) noexcept {
    if (text == "allow") return FleetDecision::allow;
    if (text.rfind("deny:", 0) != 0) return std::nullopt;
    text.remove_prefix(5);
    for (std::size_t i = 1; i < kFleetDecisions; ++i)
        if (text == kReasons[i]) return static_cast<FleetDecision>(i);
    return FleetDecision::error;
}

const char* decision_reason(FleetDecision d) noexcept {
    const auto i = static_cast<std::size_t>(d);
    return i < kFleetDecisions ? kReasons[i] : "error";
}

std::string decision_text(FleetDecision d) {
    return d == FleetDecision::allow ? "allow" : std::string("deny:") + decision_reason(d);
}

EventTime DeviceRecord::last_activity() const noexcept {
    EventTime t = std::max({latest.time, unverified.last_seen, not_in_acl.last_seen});
    for (const Probe& p : probes) t = std::max(t, p.last_seen);
    return t;
}

DeviceRecord record_of(const FleetEvent& e) {
    DeviceRecord r(e.mac ? *e.mac : *Mac::parse("000000000000"));
    const EventTime t = clamp_event_time(e.time);
    const FleetDecision d = e.decision;
    if (d != FleetDecision::allow) r.denials[static_cast<std::size_t>(d)] = 1;

    if (d == FleetDecision::unverified || d == FleetDecision::not_in_acl) {
        RefusalFacts& refusal = d == FleetDecision::unverified ? r.unverified : r.not_in_acl;
        refusal.last_seen = t;
        refusal.address = capped(e.address, kMaxAddress);
    }
    if (!e.authenticated || !is_device_decision(d)) return r;

    r.first_seen = t;
    DeviceFacts& f = r.latest;
    f.time = t;
    f.label = capped(e.label, kMaxLabel);
    f.address = capped(e.address, kMaxAddress);
    f.user_agent = capped(e.user_agent, kMaxUserAgent);
    f.cert_not_after = clamp_time(e.cert_not_after);
    f.cert_expired = e.cert_expired;
    f.waived = e.waived;
    f.pinned = e.pinned;
    f.request = {t, capped(e.method, kMaxMethod), capped(e.path, kMaxPath), std::clamp(e.status, 0, 999), d};

    if (auto agent = parse_user_agent(e.user_agent))
        r.agent = {t, capped(agent->model, kMaxAgentPart), capped(agent->firmware, kMaxAgentPart)};
    const bool ok = e.status >= 200 && e.status < 400;
    if (d == FleetDecision::allow && e.method == "GET" && (e.status == 200 || e.status == 304) && ends_with_cfg(e.path))
        r.last_config_fetch = t;
    if (d == FleetDecision::allow && e.method == "PUT" && ok) r.last_upload = {t, e.body_bytes};
    if (d == FleetDecision::mac_mismatch)
        r.probes.push_back({capped(e.address, kMaxAddress), capped(e.path, kMaxPath), 1, t});
    return r;
}

void merge(DeviceRecord& into, const DeviceRecord& other) {
    into.first_seen = earliest_known(into.first_seen, other.first_seen);
    take_newer(into.latest, other.latest);
    take_newer(into.agent, other.agent);
    into.last_config_fetch = std::max(into.last_config_fetch, other.last_config_fetch);
    take_newer(into.last_upload, other.last_upload);
    for (std::size_t i = 0; i < kFleetDecisions; ++i) into.denials[i] = saturating_add(into.denials[i], other.denials[i]);
    take_newer(into.unverified, other.unverified);
    take_newer(into.not_in_acl, other.not_in_acl);
    merge_probes(into.probes, other.probes);
}

namespace {

void assign_capped(std::string& into, std::string_view text, std::size_t max) {
    if (text.size() > max) {
        into = capped(text, max);
        return;
    }
    into.assign(text.data(), text.size());
}

}  // namespace

void apply(DeviceRecord& into, const FleetEvent& e) {
    const EventTime t = clamp_event_time(e.time);
    // What record_of(e) holds beside the device facts (denials, refusals,
    // config fetch, upload, probes) is empty for an allowed request; its
    // device facts win every comparison when their time is newer than all
    // of the record's (the keys compare time first). Anything else takes
    // the general way.
    const bool in_place = e.decision == FleetDecision::allow && e.authenticated && t > into.latest.time &&
                          t > into.agent.time && t > into.last_upload.time && t > into.last_config_fetch;
    if (!in_place) {
        merge(into, record_of(e));
        return;
    }
    into.first_seen = earliest_known(into.first_seen, t);
    DeviceFacts& f = into.latest;
    f.time = t;
    assign_capped(f.label, e.label, kMaxLabel);
    assign_capped(f.address, e.address, kMaxAddress);
    assign_capped(f.user_agent, e.user_agent, kMaxUserAgent);
    f.cert_not_after = clamp_time(e.cert_not_after);
    f.cert_expired = e.cert_expired;
    f.waived = e.waived;
    f.pinned = e.pinned;
    f.request.time = t;
    assign_capped(f.request.method, e.method, kMaxMethod);
    assign_capped(f.request.path, e.path, kMaxPath);
    f.request.status = std::clamp(e.status, 0, 999);
    f.request.decision = FleetDecision::allow;
    if (auto agent = parse_user_agent(e.user_agent)) {
        into.agent.time = t;
        assign_capped(into.agent.model, agent->model, kMaxAgentPart);
        assign_capped(into.agent.firmware, agent->firmware, kMaxAgentPart);
    }
    const bool ok = e.status >= 200 && e.status < 400;
    if (e.method == "GET" && (e.status == 200 || e.status == 304) && ends_with_cfg(e.path)) into.last_config_fetch = t;
    if (e.method == "PUT" && ok) into.last_upload = {t, e.body_bytes};
    static const std::vector<Probe> none;
    merge_probes(into.probes, none);  // as merge leaves them: newest first, at most kMaxProbes
}

// ----------------------------------------------------------------- bytes

namespace {

// 'D' records (before not-shared) hold 8 denial counts, read still; 'E'
// records say how many they hold, and are read only with this code's
// number of reasons (what decodes is exactly what encode writes).
constexpr std::uint8_t kKind = 'E';
constexpr std::uint8_t kKindEightDenials = 'D';
enum Flags : std::uint8_t { kExpired = 1, kWaived = 2, kPinned = 4, kAllFlags = 7 };

}  // namespace

std::string encode(const DeviceRecord& r) {
    detail::WireWriter w;
    w.u8(detail::kFleetFormat);
    w.u8(kKind);
    detail::write_mac(w, r.mac);
    detail::write_time(w, r.first_seen);

    const DeviceFacts& f = r.latest;
    detail::write_time(w, f.time);
    w.bytes(f.label);
    w.bytes(f.address);
    w.bytes(f.user_agent);
    detail::write_time(w, f.cert_not_after);
    w.u8(static_cast<std::uint8_t>((f.cert_expired ? kExpired : 0) | (f.waived ? kWaived : 0) |
                                   (f.pinned ? kPinned : 0)));
    detail::write_time(w, f.request.time);
    w.bytes(f.request.method);
    w.bytes(f.request.path);
    w.varint(static_cast<std::uint64_t>(f.request.status));
    w.u8(static_cast<std::uint8_t>(f.request.decision));

    detail::write_time(w, r.agent.time);
    w.bytes(r.agent.model);
    w.bytes(r.agent.firmware);
    detail::write_time(w, r.last_config_fetch);
    detail::write_time(w, r.last_upload.time);
    w.varint(r.last_upload.bytes ? *r.last_upload.bytes + 1 : 0);  // 0: unknown
    w.varint(r.denials.size());
    for (const std::uint32_t n : r.denials) w.varint(n);
    for (const RefusalFacts* refusal : {&r.unverified, &r.not_in_acl}) {
        detail::write_time(w, refusal->last_seen);
        w.bytes(refusal->address);
    }
    w.varint(r.probes.size());
    for (const Probe& p : r.probes) {
        w.bytes(p.address);
        w.bytes(p.path);
        w.varint(p.count);
        detail::write_time(w, p.last_seen);
    }
    return w.take();
}

std::optional<DeviceRecord> decode_device_record(std::string_view bytes) noexcept {
    try {
        detail::WireReader in(bytes);
        if (in.u8() != detail::kFleetFormat) return std::nullopt;
        const std::uint8_t kind = in.u8();
        if (kind != kKind && kind != kKindEightDenials) return std::nullopt;
        const auto mac = detail::read_mac(in);
        if (!mac) return std::nullopt;
        DeviceRecord r(*mac);
        r.first_seen = detail::read_event_time(in);

        DeviceFacts& f = r.latest;
        f.time = detail::read_event_time(in);
        f.label = std::string(in.bytes(kMaxLabel));
        f.address = std::string(in.bytes(kMaxAddress));
        f.user_agent = std::string(in.bytes(kMaxUserAgent));
        f.cert_not_after = detail::read_time(in);
        const std::uint8_t flags = in.u8();
        if (flags & ~kAllFlags) return std::nullopt;
        f.cert_expired = flags & kExpired;
        f.waived = flags & kWaived;
        f.pinned = flags & kPinned;
        f.request.time = detail::read_event_time(in);
        f.request.method = std::string(in.bytes(kMaxMethod));
        f.request.path = std::string(in.bytes(kMaxPath));
        f.request.status = static_cast<int>(in.varint_max(999));
        const std::uint8_t decision = in.u8();
        if (decision >= kFleetDecisions) return std::nullopt;
        f.request.decision = static_cast<FleetDecision>(decision);

        r.agent.time = detail::read_event_time(in);
        r.agent.model = std::string(in.bytes(kMaxAgentPart));
        r.agent.firmware = std::string(in.bytes(kMaxAgentPart));
        r.last_config_fetch = detail::read_event_time(in);
        r.last_upload.time = detail::read_event_time(in);
        if (const std::uint64_t b = in.varint(); b != 0) r.last_upload.bytes = b - 1;
        const std::size_t denials = kind == kKindEightDenials ? 8 : in.varint_max(64);
        if (kind == kKind && denials != kFleetDecisions) return std::nullopt;
        for (std::size_t i = 0; i < denials && in.ok(); ++i)
            r.denials[i] = static_cast<std::uint32_t>(in.varint_max(0xFFFFFFFFu));
        for (RefusalFacts* refusal : {&r.unverified, &r.not_in_acl}) {
            refusal->last_seen = detail::read_event_time(in);
            refusal->address = std::string(in.bytes(kMaxAddress));
        }
        const std::size_t probes = in.varint_max(kMaxProbes);
        for (std::size_t i = 0; i < probes && in.ok(); ++i) {
            Probe p;
            p.address = std::string(in.bytes(kMaxAddress));
            p.path = std::string(in.bytes(kMaxPath));
            p.count = static_cast<std::uint32_t>(in.varint_max(0xFFFFFFFFu));
            p.last_seen = detail::read_event_time(in);
            r.probes.push_back(std::move(p));
        }
        if (!in.done() || r.denials[0] != 0) return std::nullopt;
        return r;
    } catch (...) {
        return std::nullopt;  // out of memory: as unreadable
    }
}

}  // namespace polyprov
