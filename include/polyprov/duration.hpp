// Durations as operators write them in directives: "30d", "12h", "90m", "45s".
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace polyprov {

// A positive whole number followed by one unit: s (seconds), m (minutes),
// h (hours) or d (days); a bare number means seconds. nullopt for anything
// else: zero, a sign, spaces, fractions, several units, an overflow.
std::optional<std::int64_t> parse_duration_seconds(std::string_view text) noexcept;

}  // namespace polyprov
