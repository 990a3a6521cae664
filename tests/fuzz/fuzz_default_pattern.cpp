// The default MAC pattern is matched by a hand-written scan on every
// request: it must find exactly what Boost.Regex finds with the pattern's
// own text, for any input; and a tail from a '/' on must scan as it does
// inside the whole.
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
    // What access_policy.cpp relies on to scan a URI once when it ends the
    // mapped file name, and a file name from below its section's directory:
    // split at a '/', each side alone has the matches the whole has there,
    // and none of the whole's runs across the '/'.
    for (std::size_t slash = text.find('/'); slash != std::string_view::npos; slash = text.find('/', slash + 1)) {
        const auto tail = pattern.find_all(text.substr(slash));
        std::size_t first = 0;
        while (first < scanned.size() && scanned[first].text.data() < text.data() + slash) {
            if (scanned[first].text.data() + scanned[first].text.size() > text.data() + slash) std::abort();
            ++first;
        }
        if (pattern.find_all(text.substr(0, slash)).size() != first) std::abort();   // and the head alone
        if (scanned.size() - first != tail.size()) std::abort();
        for (std::size_t i = 0; i < tail.size(); ++i)
            if (tail[i].text.data() != scanned[first + i].text.data() ||
                tail[i].text.size() != scanned[first + i].text.size())
                std::abort();
    }
    return 0;
}
