// The compiled tables every process maps (the ACL's, the revocation
// history's) are checked whole before they are read: no table, however
// damaged, may make a check or a lookup read outside its bytes.
//
// Input: a mode byte, then
//   0: the bytes of an ACL table as they are;
//   1: ACL text, compiled, then damaged: each further 3 bytes of the input
//      after a NUL name a position (2 bytes) and a value to put there;
//   2: the bytes of a revocation table as they are.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <polyprov/acl.hpp>
#include <polyprov/error.hpp>
#include <polyprov/revoked_set.hpp>

namespace {

void read_acl(std::string bytes) {
    auto owner = std::make_shared<std::string>(std::move(bytes));   // heap: aligned as a mapping is
    const std::string_view view = *owner;
    try {
        const auto acl = polyprov::Acl::from_table(owner, view, "fuzz");
        for (std::uint64_t v : {0x0004F2000001ull, 0ull, 0xFFFFFFFFFFFFull, 0x0004F2000002ull}) {
            char text[13];
            std::snprintf(text, sizeof text, "%012llX", static_cast<unsigned long long>(v));
            if (const auto* e = acl.find(*polyprov::Mac::parse(text))) {
                volatile std::size_t n = std::strlen(e->label()) + (e->pin() ? (*e->pin())[31] : 0) + e->line();
                (void)n;
            }
        }
    } catch (const polyprov::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        read_acl(std::string(rest));
        break;
    case 1: {
        const std::size_t end = rest.find('\0');
        try {
            std::string table(polyprov::Acl::parse(rest.substr(0, end), "fuzz.acl").bytes());
            if (end != std::string_view::npos)
                for (std::size_t i = end + 1; i + 3 <= rest.size(); i += 3) {
                    const std::size_t at = (static_cast<std::uint8_t>(rest[i]) << 8 | static_cast<std::uint8_t>(rest[i + 1])) %
                                           table.size();
                    table[at] = rest[i + 2];
                }
            read_acl(std::move(table));
        } catch (const polyprov::Error&) {
        }
        break;
    }
    default: {
        auto owner = std::make_shared<std::string>(rest);
        const std::string_view view = *owner;
        try {
            (void)polyprov::RevokedSet::from_table(owner, view, "fuzz").size();
        } catch (const polyprov::Error&) {
        }
    }
    }
    return 0;
}
