#include <polyprov/mac_pattern.hpp>

#include <set>

#include <polyprov/error.hpp>

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

std::vector<MacPattern::Match> MacPattern::find_all(std::string_view text) const {
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
