// Hex digits, as MACs and fingerprints are written. Internal to the core.
#pragma once

#include <array>

namespace polyprov::detail {

// Every request's paths are scanned digit by digit: one load per
// character instead of three range tests.
inline constexpr std::array<signed char, 256> kHexValues = [] {
    std::array<signed char, 256> t{};
    for (auto& v : t) v = -1;
    for (int c = '0'; c <= '9'; ++c) t[static_cast<unsigned>(c)] = static_cast<signed char>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c) t[static_cast<unsigned>(c)] = static_cast<signed char>(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; ++c) t[static_cast<unsigned>(c)] = static_cast<signed char>(c - 'A' + 10);
    return t;
}();

// 0..15 for a hex digit of either case, -1 for anything else.
constexpr int hex_value(char c) noexcept { return kHexValues[static_cast<unsigned char>(c)]; }

}  // namespace polyprov::detail
