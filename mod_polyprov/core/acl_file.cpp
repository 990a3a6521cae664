#include <polyprov/acl_file.hpp>

namespace polyprov {

std::unique_ptr<AclFile> open_acl_file(std::string path) {
    return std::make_unique<AclFile>(
        std::move(path), &Acl::parse, [](const Acl& acl) { return std::to_string(acl.size()) + " devices"; });
}

}  // namespace polyprov
