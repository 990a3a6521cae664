// PolyProvSharedFiles: which names that no device owns every device may
// read. Without it, a path that names no MAC is every phone's to read;
// with it, only what an operator listed is (user profiles, which carry
// credentials and name no MAC, are then nobody's by default).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace polyprov {

class SharedNames {
public:
    // Globs as the directive takes them: '*' and '?' match within one path
    // component, case-insensitively; one ending in '/' covers everything
    // below the directories it matches (what follows a '/' after them; not
    // a file of the same name). Throws Error saying which glob is
    // unusable and why (absolute, a dot segment, '[' or '\', empty).
    static SharedNames parse(const std::vector<std::string>& globs);
    // One more glob, checked as parse() checks them; throws Error.
    void add(const std::string& glob);

    // Whether `below`, a request's path relative to the section the globs
    // were given in (no leading '/'), is one of the shared names. A
    // component that starts with '.' is matched only by a glob that spells
    // the dot, and never below a directory glob.
    bool covers(std::string_view below) const;

private:
    struct Glob {
        std::string pattern;   // without a trailing '/'
        std::size_t components = 0;
        bool directory = false;
    };
    std::vector<Glob> parsed_;
};

}  // namespace polyprov
