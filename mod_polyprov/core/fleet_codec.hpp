// Pieces of the fleet's cache entries shared by records and the index.
// Internal to the core.
#pragma once

#include <cstdio>
#include <optional>

#include <polyprov/mac.hpp>
#include <polyprov/time_text.hpp>

#include "wire.hpp"

namespace polyprov::detail {

inline constexpr std::uint8_t kFleetFormat = 1;  // the layout version every entry starts with

// The latest time an entry may hold (9999-12-31T23:59:59Z): anything later
// is garbage, and it keeps every time far from overflow.
inline constexpr UnixTime kMaxTime = 253402300799;
inline constexpr std::int64_t kMaxEventTime = kMaxTime * 1000000;

inline void write_mac(WireWriter& w, Mac mac) {
    for (int shift = 40; shift >= 0; shift -= 8) w.u8(static_cast<std::uint8_t>(mac.value() >> shift));
}

inline std::optional<Mac> read_mac(WireReader& r) {
    std::uint64_t v = 0;
    for (int i = 0; i < 6; ++i) v = (v << 8) | r.u8();
    if (!r.ok()) return std::nullopt;
    char hex[13];
    std::snprintf(hex, sizeof hex, "%012llX", static_cast<unsigned long long>(v));
    return Mac::parse(hex);
}

inline void write_time(WireWriter& w, std::int64_t t) { w.varint(static_cast<std::uint64_t>(t)); }

// Seconds (certificate dates, the index).
inline UnixTime read_time(WireReader& r) { return static_cast<UnixTime>(r.varint_max(kMaxTime)); }
// Microseconds (a record's event times).
inline std::int64_t read_event_time(WireReader& r) { return static_cast<std::int64_t>(r.varint_max(kMaxEventTime)); }

// Text cut to at most `max` bytes, never in the middle of a UTF-8 sequence
// that was whole.
inline std::string capped(std::string_view text, std::size_t max) {
    if (text.size() <= max) return std::string(text);
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return std::string(text.substr(0, n));
}

}  // namespace polyprov::detail
