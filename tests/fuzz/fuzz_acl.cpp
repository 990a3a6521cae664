// The ACL is the operator's, but a parser must not crash on any input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <polyprov/acl.hpp>
#include <polyprov/error.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto acl = polyprov::Acl::parse(text, "fuzz.acl");
        (void)acl.size();
    } catch (const polyprov::Error&) {
    }
    polyprov::parse_fingerprint(text);
    return 0;
}
