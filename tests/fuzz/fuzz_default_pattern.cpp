// The default MAC pattern is matched by a hand-written scan on every
// request: it must find exactly what Boost.Regex finds with the pattern's
// own text, for any input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <polyprov/mac_pattern.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const polyprov::MacPattern pattern = polyprov::MacPattern::compile(polyprov::MacPattern::kDefault);
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto scanned = pattern.find_all(text);
    const auto reference = pattern.find_all_by_regex(text);
    if (scanned.size() != reference.size()) std::abort();
    for (std::size_t i = 0; i < scanned.size(); ++i) {
        if (scanned[i].text.data() != reference[i].text.data() || scanned[i].text.size() != reference[i].text.size())
            std::abort();
        if (scanned[i].mac != reference[i].mac) std::abort();
    }
    return 0;
}
