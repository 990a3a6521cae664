// The opening every compiled table shares (the ACL's, the revocation
// history's): a header that starts with an 8-byte magic naming the layout
// and the table's size in bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace polyprov::detail {

// Copies the header out of `bytes`; the reason to refuse the table, or
// null when its opening is sound.
template <typename Header>
const char* read_table_header(std::string_view bytes, const char (&magic)[8], Header* h) noexcept {
    if (bytes.size() < sizeof *h || reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(std::uint64_t) != 0)
        return "too short or misaligned";
    std::memcpy(h, bytes.data(), sizeof *h);
    if (std::memcmp(h->magic, magic, sizeof magic) != 0) return "unknown layout";
    if (h->size != bytes.size()) return "its size disagrees with its header";
    return nullptr;
}

}  // namespace polyprov::detail
