// Content-Range headers come straight from the network.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <polyprov/content_range.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (const auto r = polyprov::parse_content_range(text)) {
        // What the handler relies on.
        if (r->last < r->first || (r->total && *r->total <= r->last) || r->length() == 0) std::abort();
    }
    if (const auto n = polyprov::parse_byte_size(text)) {
        if (*n == 0) std::abort();
    }
    return 0;
}
