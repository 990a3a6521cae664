// A SHA-256 digest: what ACL pins name and what identifies a trust anchor.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace polyprov {

using Sha256 = std::array<unsigned char, 32>;

// 64 hex digits, any case, bare or as 32 colon-separated pairs.
std::optional<Sha256> parse_fingerprint(std::string_view text) noexcept;
// 64 upper-case hex digits.
std::string fingerprint_hex(const Sha256& fp);

}  // namespace polyprov
