// Text that came from a client (User-Agent, path, labels), made safe for the
// documents the fleet view writes. Invalid UTF-8 becomes U+FFFD, so whatever
// a phone or an attacker sends, the output is valid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace polyprov {

// A quoted JSON string. Control characters, quotes, backslashes, '<', '>',
// '&', U+2028 and U+2029 are \u-escaped, so the string is safe inside a
// <script> block and in JavaScript too.
std::string json_string(std::string_view text);

// Text for an HTML element or a quoted attribute value: & < > " ' escaped,
// control characters (but tab and newline) shown as U+FFFD.
std::string html_text(std::string_view text);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace polyprov
