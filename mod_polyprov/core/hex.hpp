// Hex digits, as MACs and fingerprints are written. Internal to the core.
#pragma once

namespace polyprov::detail {

// 0..15 for a hex digit of either case, -1 for anything else.
constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace polyprov::detail
