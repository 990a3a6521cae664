// The ACL's compiled table (acl.hpp): the layout, its builder and its check.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <polyprov/acl.hpp>

namespace polyprov {

// A device's line as parsed, before it is laid out.
struct AclLine {
    Mac mac;
    std::string label;
    std::optional<Sha256> pin;
    int line;
};

class AclTableBuilder {
public:
    // The table of `lines` (distinct MACs, in file order). Throws Error
    // when it would not fit the table's 32-bit offsets.
    static std::string build(const std::vector<AclLine>& lines);
};

}  // namespace polyprov
