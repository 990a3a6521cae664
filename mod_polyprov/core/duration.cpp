#include <polyprov/duration.hpp>

namespace polyprov {

std::optional<std::int64_t> parse_duration_seconds(std::string_view text) noexcept {
    std::int64_t unit = 1;
    if (!text.empty()) {
        switch (text.back()) {
        case 's': unit = 1; text.remove_suffix(1); break;
        case 'm': unit = 60; text.remove_suffix(1); break;
        case 'h': unit = 3600; text.remove_suffix(1); break;
        case 'd': unit = 86400; text.remove_suffix(1); break;
        default: break;
        }
    }
    if (text.empty() || text.size() > 12) return std::nullopt;  // 12 digits of days: far past any use
    std::int64_t n = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    if (n == 0) return std::nullopt;
    return n * unit;
}

}  // namespace polyprov
