// UTF-8 validation for names that reach logs and environment variables.
// Internal to the core.
#pragma once

#include <string_view>

namespace polyprov::detail {

// Well-formed UTF-8 (shortest forms only, no surrogates, at most U+10FFFF)
// holding no C0 control, DEL or C1 control: text that prints as itself.
bool is_text_utf8(std::string_view s) noexcept;

}  // namespace polyprov::detail
