// The allow-list as the rows of an SQL query (PolyProvACLQuery): column 1
// the MAC in any notation the file takes, 2 a label, 3 a SHA-256 pin (both
// optional, NULL allowed). Unlike a file, which is refused whole for one
// bad line, a query's result is the operator's inventory as it stands: a
// bad row is left out (that device is denied) and reported, and the rest
// is the list.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <polyprov/acl.hpp>

namespace polyprov {

// One row as the database driver gave it; nullopt for SQL NULL or a column
// the query does not have.
struct AclRow {
    std::optional<std::string> mac, label, pin;
};

// A row left out, or a duplicate MAC that kept its first row.
struct AclRowProblem {
    std::size_t row = 0;      // 1-based, in the order the query returned them
    std::string value;        // the offending value, as printable text
    std::string why;
};

struct AclFromRows {
    std::shared_ptr<const Acl> acl;
    std::vector<AclRowProblem> problems;
};

// The list the rows make; throws Error only when it cannot be built at all
// (more than the table's 32-bit offsets hold).
AclFromRows acl_from_rows(const std::vector<AclRow>& rows, const std::string& origin);

}  // namespace polyprov
