// The ACL file (PolyProvACLFile), followed on disk by every process of a
// server together (shared_file.hpp).
#pragma once

#include <memory>
#include <string>

#include <polyprov/acl.hpp>
#include <polyprov/shared_file.hpp>

namespace polyprov {

using AclFile = SharedFile<Acl>;

// Loads `path` now; throws Error (with file:line) when it is bad.
std::unique_ptr<AclFile> open_acl_file(std::string path);

// A list that follows no file (a query's result, published by whoever runs
// the query), called `name` in messages, starting from `initial` (null:
// nothing until its first version).
std::unique_ptr<AclFile> published_acl(std::string name, std::shared_ptr<const Acl> initial);

}  // namespace polyprov
