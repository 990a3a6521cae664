#include <polyprov/shared_names.hpp>

#include <fnmatch.h>

#include <polyprov/error.hpp>

namespace polyprov {
namespace {

std::size_t count_components(std::string_view path) {
    std::size_t n = 1;
    for (const char c : path) n += c == '/';
    return n;
}

// Why `glob` cannot be used, or nullptr.
const char* unusable(std::string_view glob) {
    if (glob.empty() || glob == "/") return "empty";
    if (glob.front() == '/') return "absolute: globs name what lies below the section they are given in";
    if (glob.find('\0') != std::string_view::npos) return "contains a NUL";
    // fnmatch's brackets and escapes are not part of the directive: an
    // operator who writes them should hear so rather than get another set.
    if (glob.find_first_of("[]\\") != std::string_view::npos)
        return "brackets and backslashes are not glob characters here (* and ? are)";
    std::string_view rest = glob;
    if (rest.back() == '/') rest.remove_suffix(1);
    for (;;) {
        const std::size_t slash = rest.find('/');
        const std::string_view part = rest.substr(0, slash);
        if (part.empty()) return "an empty path component ('//')";
        if (part == "." || part == "..") return "a dot segment";
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return nullptr;
}

bool matches(const std::string& pattern, const std::string& name) {
    return fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME | FNM_PERIOD | FNM_CASEFOLD) == 0;
}

}  // namespace

SharedNames SharedNames::parse(const std::vector<std::string>& globs) {
    SharedNames names;
    for (const std::string& glob : globs) names.add(glob);
    return names;
}

void SharedNames::add(const std::string& glob) {
    if (const char* why = unusable(glob)) throw Error("'" + glob + "': " + why);
    Glob g;
    g.directory = glob.back() == '/';
    g.pattern = g.directory ? glob.substr(0, glob.size() - 1) : glob;
    g.components = count_components(g.pattern);
    parsed_.push_back(std::move(g));
}

bool SharedNames::covers(std::string_view below) const {
    // An empty component ("a//b", a URI under MergeSlashes Off) would let
    // '*' match nothing: never a shared name.
    if (below.empty() || below.find('\0') != std::string_view::npos || below.find("//") != std::string_view::npos)
        return false;
    const std::string name(below);
    for (const Glob& g : parsed_) {
        if (!g.directory) {
            if (matches(g.pattern, name)) return true;
            continue;
        }
        // Something below the directories it matches: the first
        // `components` components match, a '/' follows them, and nothing
        // further down is a dot-name that '*' would not have matched.
        std::size_t end = std::string::npos;
        for (std::size_t i = 0; i < g.components; ++i) {
            end = name.find('/', i == 0 ? 0 : end + 1);
            if (end == std::string::npos) break;
        }
        if (end == std::string::npos) continue;   // no '/' after them: a file of that name, or the bare directory
        bool dot_below = false;
        for (std::size_t at = end; at != std::string::npos; at = name.find('/', at + 1))
            dot_below = dot_below || (at + 1 < name.size() && name[at + 1] == '.');
        if (!dot_below && matches(g.pattern, name.substr(0, end))) return true;
    }
    return false;
}

}  // namespace polyprov
