// The rows of an allow-list query (PolyProvACLQuery), read through APR's
// DBD layer: the drivers mod_dbd uses (sqlite3, pgsql, mysql), loaded the
// same way, from the same packages. Shared by the module's file watcher and
// `polyprov acl check --dbd`; needs APR, not httpd.
#pragma once

#include <string>
#include <vector>

#include <polyprov/acl_rows.hpp>

namespace polyprov::dbd {

// What mod_dbd's DBDriver and DBDParams say, and the query.
struct Source {
    std::string driver;
    std::string params;   // may hold a password: never logged
    std::string sql;
};

// Loads the driver now. "" when it is there, else why not, naming the
// Debian package that has it.
std::string check_driver(const std::string& driver);

// Connects, runs the query, hands every row to `into` as it reads it,
// disconnects. Throws Error with the driver's own message when any step
// fails, or when the query does not return 1 to 3 columns (`into` then
// holds a part of the rows: do not finish it).
void read_rows(const Source& source, AclRowsBuilder& into);

}  // namespace polyprov::dbd
