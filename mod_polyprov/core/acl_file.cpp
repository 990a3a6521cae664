#include <polyprov/acl_file.hpp>

namespace polyprov {

std::unique_ptr<AclFile> open_acl_file(std::string path) {
    // Every process reads the watcher's one compiled table in place.
    return std::make_unique<AclFile>(
        std::move(path), &Acl::parse, [](const Acl& acl) { return std::to_string(acl.size()) + " devices"; },
        AclFile::Table{[](const Acl& acl) { return acl.bytes(); }, &Acl::from_table});
}

}  // namespace polyprov
