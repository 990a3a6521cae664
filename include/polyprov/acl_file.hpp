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

}  // namespace polyprov
