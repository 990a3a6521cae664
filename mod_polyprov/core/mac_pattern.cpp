#include <polyprov/mac_pattern.hpp>

#include <set>

#include <polyprov/error.hpp>

#include "hex.hpp"

namespace polyprov {

// Every alternative must stand between non-hex characters: otherwise a
// separated form could swallow the start of a 12-digit run and leave the
// rest too short to be seen (00-04-F2-AA-BB-0004F2586A4B).
const char* const MacPattern::kDefault =
    "(?<![0-9A-Fa-f])"
    "(?:[0-9A-Fa-f]{12,}"
    "|(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}"
    "|[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4})"
    "(?![0-9A-Fa-f])";

MacPattern MacPattern::compile(const std::string& regex) {
    try {
        return MacPattern(boost::regex(regex, boost::regex::perl), regex);
    } catch (const boost::regex_error& e) {
        throw Error("'" + regex + "' is not a valid regular expression: " + e.what());
    }
}

namespace {

bool is_hex(char c) noexcept { return detail::hex_value(c) >= 0; }

// Hex digits from `at`, up to the first other character.
std::size_t hex_run(std::string_view text, std::size_t at) noexcept {
    std::size_t end = at;
    while (end < text.size() && is_hex(text[end])) ++end;
    return end - at;
}

// The separated notations of kDefault at `at` (a position after a non-hex
// character): six pairs joined by ':' or '-' (any mix, as the regex
// allows), or three quads joined by '.', followed by a non-hex character.
// The length matched, or 0.
std::size_t separated_at(std::string_view text, std::size_t at) noexcept {
    const std::size_t run = hex_run(text, at);
    std::size_t pos = at;
    if (run == 2) {
        for (int pair = 0; pair < 6; ++pair) {
            if (hex_run(text, pos) < 2 || (pair < 5 && hex_run(text, pos) != 2)) return 0;
            pos += 2;
            if (pair < 5) {
                if (pos >= text.size() || (text[pos] != ':' && text[pos] != '-')) return 0;
                ++pos;
            }
        }
    } else if (run == 4) {
        for (int quad = 0; quad < 3; ++quad) {
            if (hex_run(text, pos) < 4 || (quad < 2 && hex_run(text, pos) != 4)) return 0;
            pos += 4;
            if (quad < 2) {
                if (pos >= text.size() || text[pos] != '.') return 0;
                ++pos;
            }
        }
    } else {
        return 0;
    }
    return (pos < text.size() && is_hex(text[pos])) ? 0 : pos - at;
}

}  // namespace

bool MacPattern::visit(std::string_view text, Visitor visitor, void* context) const {
    if (!is_default_) {
        for (const Match& match : find_all_by_regex(text))
            if (!visitor(context, match)) return false;
        return true;
    }
    for (std::size_t at = 0; at < text.size();) {
        if (!is_hex(text[at])) {
            ++at;
            continue;
        }
        // `at` starts a run of hex digits (the one before, if any, was not).
        const std::size_t run = hex_run(text, at);
        const std::size_t length = run >= 12 ? run : separated_at(text, at);
        if (length == 0) {
            at += run;  // no match can start inside this run
            continue;
        }
        const std::string_view found = text.substr(at, length);
        if (!visitor(context, Match{found, Mac::parse(found)})) return false;
        at += length;
    }
    return true;
}

std::vector<MacPattern::Match> MacPattern::find_all(std::string_view text) const {
    std::vector<Match> out;
    each_match(text, [&out](const Match& match) {
        out.push_back(match);
        return true;
    });
    return out;
}

std::vector<MacPattern::Match> MacPattern::find_all_by_regex(std::string_view text) const {
    std::vector<Match> out;
    using Iterator = boost::regex_iterator<std::string_view::const_iterator>;
    for (Iterator it(text.begin(), text.end(), re_), end; it != end; ++it) {
        const auto& m = *it;
        const auto& group = (m.size() > 1 && m[1].matched) ? m[1] : m[0];
        if (group.length() == 0) continue;  // a pattern that can match nothing finds nothing
        const std::string_view found(&*group.first, static_cast<std::size_t>(group.length()));
        out.push_back({found, Mac::parse(found)});
    }
    return out;
}

std::optional<Mac> device_mac_from_cn(std::string_view cn, const MacPattern& pattern) {
    std::optional<Mac> device;
    for (const auto& match : pattern.find_all(cn)) {
        if (!match.mac) return std::nullopt;
        if (device && *device != *match.mac) return std::nullopt;
        device = match.mac;
    }
    return device;
}

}  // namespace polyprov
