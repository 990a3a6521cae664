// Every phone (and anyone else) chooses its User-Agent: the parser must
// take anything, and what it returns must be a part of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <polyprov/user_agent.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view ua(reinterpret_cast<const char*>(data), size);
    if (const auto agent = polyprov::parse_user_agent(ua)) {
        if (agent->model.empty() || agent->firmware.empty() || agent->family.empty()) std::abort();
        if (ua.find(agent->model + "-UA/" + agent->firmware) == std::string_view::npos) std::abort();
    }
    return 0;
}
