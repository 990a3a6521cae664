#include <polyprov/mac.hpp>

#include <cstddef>

#include "hex.hpp"

namespace polyprov {
namespace {

using detail::hex_value;

// Reads `text` as hex digits in groups of `group` separated by `sep`
// (sep == 0: no separators). Exactly 12 digits in all.
std::optional<std::uint64_t> read_grouped(std::string_view text, std::size_t group, char sep) noexcept {
    std::uint64_t value = 0;
    std::size_t digits = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool separator_slot = sep != 0 && (i + 1) % (group + 1) == 0;
        if (separator_slot) {
            if (text[i] != sep) return std::nullopt;
            continue;
        }
        const int v = hex_value(text[i]);
        if (v < 0) return std::nullopt;
        value = (value << 4) | static_cast<std::uint64_t>(v);
        ++digits;
    }
    if (digits != 12) return std::nullopt;
    return value;
}

// Twelve digits, the form in every phone's file names: no separators to
// look for.
std::optional<std::uint64_t> read_plain(std::string_view text) noexcept {
    std::uint64_t value = 0;
    for (const char c : text) {
        const int v = hex_value(c);
        if (v < 0) return std::nullopt;
        value = (value << 4) | static_cast<std::uint64_t>(v);
    }
    return value;
}

}  // namespace

std::optional<Mac> Mac::parse(std::string_view text) noexcept {
    std::optional<std::uint64_t> v;
    switch (text.size()) {
    case 12: v = read_plain(text); break;
    case 14: v = read_grouped(text, 4, '.'); break;
    case 17: v = read_grouped(text, 2, text[2] == '-' ? '-' : ':'); break;
    default: break;
    }
    if (!v) return std::nullopt;
    return Mac(*v);
}

void Mac::format(char (&out)[kTextSize]) const noexcept {
    static const char digits[] = "0123456789ABCDEF";
    for (int i = 11, shift = 0; i >= 0; --i, shift += 4)
        out[static_cast<std::size_t>(i)] = digits[(value_ >> shift) & 0xF];
    out[12] = '\0';
}

std::string Mac::str() const {
    char text[kTextSize];
    format(text);
    return std::string(text, 12);
}

}  // namespace polyprov
