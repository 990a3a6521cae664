// Lengths of time as operators write them in options: "90s", "30m", "36h",
// "1d", "2w", or a bare number of seconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace polyprov {

// Seconds, or nullopt for anything but digits and one optional unit (s, m,
// h, d, w), or more than 100 years (which no CRL schedule needs, and which
// keeps every sum of a duration and a time_t far from overflowing).
std::optional<std::int64_t> parse_duration(std::string_view text) noexcept;

// "2 days 3 hours", "5 minutes", "0 seconds": the two largest units, for
// messages. Negative durations are printed as their magnitude.
std::string format_duration(std::int64_t seconds);

}  // namespace polyprov
