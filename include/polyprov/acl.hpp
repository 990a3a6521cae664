// The device allow-list (PolyProvACLFile): one device a line,
//   MAC [label=WORD|label="words"] [sha256=FINGERPRINT]   # comment
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <polyprov/mac.hpp>
#include <polyprov/sha256.hpp>

namespace polyprov {

struct AclEntry {
    Mac mac;
    std::string label;           // "" when the line has none
    std::optional<Sha256> pin;   // the one certificate this MAC may present, when set
    int line;
};

class Acl {
public:
    // Throws Error "ORIGIN:LINE: why" for a malformed line, a duplicate MAC
    // (naming the first line too), an unknown or repeated key.
    static Acl parse(std::string_view text, const std::string& origin);

    const AclEntry* find(Mac mac) const noexcept;
    std::size_t size() const noexcept { return entries_.size(); }

private:
    std::unordered_map<std::uint64_t, AclEntry> entries_;
};

}  // namespace polyprov
