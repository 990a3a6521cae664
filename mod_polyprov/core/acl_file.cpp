#include <polyprov/acl_file.hpp>

namespace polyprov {
namespace {

std::string describe(const Acl& acl) { return std::to_string(acl.size()) + " devices"; }

// Every process reads the watcher's one compiled table in place.
const AclFile::Table kTable{[](const Acl& acl) { return acl.bytes(); }, &Acl::from_table};

}  // namespace

std::unique_ptr<AclFile> open_acl_file(std::string path) {
    return std::make_unique<AclFile>(std::move(path), &Acl::parse, &describe, kTable);
}

std::unique_ptr<AclFile> published_acl(std::string name, std::shared_ptr<const Acl> initial) {
    return std::make_unique<AclFile>(std::move(name), &describe, kTable, std::move(initial));
}

}  // namespace polyprov
