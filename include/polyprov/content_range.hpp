// The Content-Range header of a phone's append: "bytes S-E/T" or "bytes S-E/*".
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace polyprov {

struct ContentRange {
    std::uint64_t first;
    std::uint64_t last;                    // inclusive
    std::optional<std::uint64_t> total;    // null for "/*"
    std::uint64_t length() const noexcept { return last - first + 1; }
};

// Strict: the unit "bytes" (any case), one space, decimal digits only (no
// sign, no spaces inside, at most 18 digits so nothing overflows), last >=
// first, and a total greater than last. Anything else is null.
std::optional<ContentRange> parse_content_range(std::string_view header) noexcept;

// "10M", "512K", "1G", "4096" (K, M, G: powers of 1024). Null when malformed,
// zero or too large.
std::optional<std::uint64_t> parse_byte_size(std::string_view text) noexcept;

}  // namespace polyprov
