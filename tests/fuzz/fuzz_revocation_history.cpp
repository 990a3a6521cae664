// The history file is written by fetch-crl but read by the module at every
// reload: whatever is in it, parsing must end in a history or an Error, and
// what a parsed history writes must read back, without error, as the same
// history.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include <polyprov/error.hpp>
#include <polyprov/revocation_history.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::optional<polyprov::RevocationHistory> history;
    try {
        history = polyprov::RevocationHistory::parse(text, "fuzz.history");
    } catch (const polyprov::Error&) {
        return 0;
    }
    const std::string written = history->serialize();
    try {
        const auto again = polyprov::RevocationHistory::parse(written, "written");
        if (again.size() != history->size() || again.serialize() != written) std::abort();
    } catch (const polyprov::Error&) {
        std::abort();  // it wrote what it cannot read
    }
    return 0;
}
