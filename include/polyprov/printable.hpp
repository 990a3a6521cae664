// Text from certificates, for terminals and files an operator reads.
#pragma once

#include <string>
#include <string_view>

namespace polyprov {

// `text` with control characters, DEL, backslashes and bytes outside ASCII
// written as \xHH, so a name chosen by whoever made the certificate cannot
// start a new line, move the cursor or hide what follows it.
std::string printable(std::string_view text);

}  // namespace polyprov
