// Request paths and certificate CNs are the attacker's to choose.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <polyprov/access_policy.hpp>
#include <polyprov/mac_pattern.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const polyprov::MacPattern pattern = polyprov::MacPattern::compile(polyprov::MacPattern::kDefault);
    static const polyprov::Mac device = *polyprov::Mac::parse("0004F2000001");
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const auto& m : pattern.find_all(text))
        if (m.text.size() < 12) std::abort();  // a match is never shorter than a MAC
    const auto verdict = polyprov::check_path(text, device, pattern).verdict;
    // The device's own name never makes a path foreign on its own: if the
    // path is "own", the device's MAC was found in it.
    if (verdict == polyprov::PathVerdict::own && text.find_first_of("0123456789") == std::string_view::npos) std::abort();
    polyprov::device_mac_from_cn(text, pattern);
    polyprov::upload_name_allowed(text, device);
    polyprov::names_module_file(text);
    return 0;
}
