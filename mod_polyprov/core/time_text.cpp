#include <polyprov/time_text.hpp>

#include <cstdio>
#include <ctime>

namespace polyprov {
namespace {

// `n` decimal digits at text[pos], advancing pos.
std::optional<int> digits(std::string_view text, std::size_t& pos, std::size_t n) noexcept {
    if (pos + n > text.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = text[pos + i];
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    pos += n;
    return v;
}

bool literal(std::string_view text, std::size_t& pos, std::string_view expected) noexcept {
    if (text.substr(pos, expected.size()) != expected) return false;
    pos += expected.size();
    return true;
}

// timegm() normalises (February 30th becomes March 2nd): a date is valid
// only when it survives the round trip unchanged.
std::optional<UnixTime> from_fields(int y, int mo, int d, int h, int mi, int s) noexcept {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    const std::time_t t = timegm(&tm);
    std::tm back{};
    if (!gmtime_r(&t, &back) || back.tm_year != y - 1900 || back.tm_mon != mo - 1 || back.tm_mday != d ||
        back.tm_hour != h || back.tm_min != mi || back.tm_sec != s)
        return std::nullopt;
    return static_cast<UnixTime>(t);
}

}  // namespace

std::string iso8601(UnixTime t) {
    const auto tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (!gmtime_r(&tt, &tm)) return "1970-01-01T00:00:00Z";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::optional<UnixTime> parse_iso8601(std::string_view text) noexcept {
    std::size_t p = 0;
    const auto y = digits(text, p, 4);
    if (!y || !literal(text, p, "-")) return std::nullopt;
    const auto mo = digits(text, p, 2);
    if (!mo || !literal(text, p, "-")) return std::nullopt;
    const auto d = digits(text, p, 2);
    if (!d || !literal(text, p, "T")) return std::nullopt;
    const auto h = digits(text, p, 2);
    if (!h || !literal(text, p, ":")) return std::nullopt;
    const auto mi = digits(text, p, 2);
    if (!mi || !literal(text, p, ":")) return std::nullopt;
    const auto s = digits(text, p, 2);
    if (!s || !literal(text, p, "Z") || p != text.size()) return std::nullopt;
    return from_fields(*y, *mo, *d, *h, *mi, *s);
}

std::optional<UnixTime> parse_openssl_date(std::string_view text) noexcept {
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int mo = 0;
    for (int i = 0; i < 12; ++i)
        if (text.substr(0, 3) == months[i]) mo = i + 1;
    std::size_t p = 3;
    if (!mo || !literal(text, p, " ")) return std::nullopt;
    if (p < text.size() && text[p] == ' ') ++p;  // "Mar  1": a one-digit day is padded
    std::optional<int> d = digits(text, p, 2);
    if (!d) d = digits(text, p, 1);
    if (!d || !literal(text, p, " ")) return std::nullopt;
    const auto h = digits(text, p, 2);
    if (!h || !literal(text, p, ":")) return std::nullopt;
    const auto mi = digits(text, p, 2);
    if (!mi || !literal(text, p, ":")) return std::nullopt;
    const auto s = digits(text, p, 2);
    if (!s || !literal(text, p, " ")) return std::nullopt;
    const auto y = digits(text, p, 4);
    if (!y || !literal(text, p, " GMT") || p != text.size()) return std::nullopt;
    return from_fields(*y, mo, *d, *h, *mi, *s);
}

}  // namespace polyprov
