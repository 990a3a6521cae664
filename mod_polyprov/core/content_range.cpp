#include <polyprov/content_range.hpp>

#include <cctype>

namespace polyprov {
namespace {

// Decimal digits only, 1..18 of them (below 2^63, so sums cannot overflow).
std::optional<std::uint64_t> read_number(std::string_view& text) noexcept {
    std::size_t n = 0;
    std::uint64_t value = 0;
    while (n < text.size() && text[n] >= '0' && text[n] <= '9') {
        if (++n > 18) return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(text[n - 1] - '0');
    }
    if (n == 0) return std::nullopt;
    text.remove_prefix(n);
    return value;
}

bool eat(std::string_view& text, char c) noexcept {
    if (text.empty() || text.front() != c) return false;
    text.remove_prefix(1);
    return true;
}

}  // namespace

std::optional<ContentRange> parse_content_range(std::string_view h) noexcept {
    static constexpr std::string_view unit = "bytes ";
    if (h.size() < unit.size()) return std::nullopt;
    for (std::size_t i = 0; i < unit.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(h[i])) != unit[i]) return std::nullopt;
    h.remove_prefix(unit.size());

    const auto first = read_number(h);
    if (!first || !eat(h, '-')) return std::nullopt;
    const auto last = read_number(h);
    if (!last || !eat(h, '/') || *last < *first) return std::nullopt;
    ContentRange range{*first, *last, std::nullopt};
    if (eat(h, '*')) {
        if (!h.empty()) return std::nullopt;
        return range;
    }
    range.total = read_number(h);
    if (!range.total || !h.empty() || *range.total <= *last) return std::nullopt;
    return range;
}

std::optional<std::uint64_t> parse_byte_size(std::string_view text) noexcept {
    std::uint64_t unit = 1;
    if (!text.empty()) {
        switch (text.back()) {
        case 'K': case 'k': unit = 1ull << 10; break;
        case 'M': case 'm': unit = 1ull << 20; break;
        case 'G': case 'g': unit = 1ull << 30; break;
        default: break;
        }
        if (unit != 1) text.remove_suffix(1);
    }
    const auto value = read_number(text);
    if (!value || !text.empty() || *value == 0 || *value > (1ull << 62) / unit) return std::nullopt;
    return *value * unit;
}

}  // namespace polyprov
