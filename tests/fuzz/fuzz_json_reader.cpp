// polyprov fleet reads whatever the URL answers: the JSON reader and the
// report built on it must take anything without a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <polyprov/fleet_report.hpp>
#include <polyprov/json_reader.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    if (const auto json = polyprov::JsonValue::parse(text, error)) {
        if (const auto report = polyprov::read_fleet_report(*json, error)) {
            (void)polyprov::summarize_report(*report, 1767225600, 24, 30);
            (void)polyprov::expiring_devices(*report, 1767225600, 30);
        }
    }
    return 0;
}
