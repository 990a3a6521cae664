#include <polyprov/duration.hpp>

namespace polyprov {
namespace {

constexpr std::int64_t kMinute = 60, kHour = 3600, kDay = 86400, kWeek = 7 * kDay;
constexpr std::int64_t kMaxSeconds = 100 * 366 * kDay;

std::string counted(std::int64_t n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

// Seconds in the unit a suffix names; 0 when it names none.
std::int64_t unit_seconds(char suffix) noexcept {
    switch (suffix) {
    case 's': return 1;
    case 'm': return kMinute;
    case 'h': return kHour;
    case 'd': return kDay;
    case 'w': return kWeek;
    default: return 0;
    }
}

}  // namespace

std::optional<std::int64_t> parse_duration(std::string_view text) noexcept {
    std::int64_t unit = 1;
    if (!text.empty() && (unit = unit_seconds(text.back())) != 0)
        text.remove_suffix(1);
    else
        unit = 1;
    if (text.empty() || text.size() > 12) return std::nullopt;
    std::int64_t n = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    if (n > kMaxSeconds / unit) return std::nullopt;
    return n * unit;
}

std::string format_duration(std::int64_t seconds) {
    std::uint64_t s = seconds < 0 ? 0 - static_cast<std::uint64_t>(seconds) : static_cast<std::uint64_t>(seconds);
    struct Unit {
        std::int64_t size;
        const char* name;
    };
    static const Unit units[] = {{kDay, "day"}, {kHour, "hour"}, {kMinute, "minute"}, {1, "second"}};
    for (std::size_t i = 0; i < 4; ++i) {
        const auto size = static_cast<std::uint64_t>(units[i].size);
        if (s < size && i < 3) continue;
        std::string out = counted(static_cast<std::int64_t>(s / size), units[i].name);
        if (i < 3 && s % size >= static_cast<std::uint64_t>(units[i + 1].size))
            out += " " + counted(static_cast<std::int64_t>(s % size / units[i + 1].size), units[i + 1].name);
        return out;
    }
    return "0 seconds";
}

}  // namespace polyprov
