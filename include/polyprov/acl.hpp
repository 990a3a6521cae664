// The device allow-list (PolyProvACLFile): one device a line,
//   MAC [label=WORD|label="words"] [sha256=FINGERPRINT]   # comment
//
// A parsed list is a compiled table in one block of bytes (acl_table.cpp):
// a hash index of the MACs, one fixed-size record a device, the pins and
// the labels. Its entries are read where the bytes lie, so one block can
// serve every process of a machine from shared memory, and a million
// devices cost tens of megabytes, not hundreds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <polyprov/mac.hpp>
#include <polyprov/sha256.hpp>

namespace polyprov {

// One device's line, as the table holds it. Only ever seen where the
// table lies (its offsets are from itself): never copied.
class AclEntry {
public:
    AclEntry(const AclEntry&) = delete;
    AclEntry& operator=(const AclEntry&) = delete;

    std::uint64_t mac_value() const noexcept { return mac_; }
    int line() const noexcept { return static_cast<int>(line_); }
    // NUL-terminated; "" when the line has none.
    const char* label() const noexcept { return reinterpret_cast<const char*>(this) + label_at_; }
    bool has_label() const noexcept { return *label() != '\0'; }
    // The one certificate this MAC may present; null when not pinned.
    const Sha256* pin() const noexcept {
        return pin_at_ ? reinterpret_cast<const Sha256*>(reinterpret_cast<const unsigned char*>(this) + pin_at_) : nullptr;
    }

private:
    AclEntry() = default;
    friend class AclTableBuilder;
    friend class Acl;
    // Offsets from the record itself, so the table reads the same wherever
    // it is mapped.
    std::uint64_t mac_;
    std::uint32_t line_;
    std::uint32_t label_at_;
    std::uint32_t pin_at_;     // 0: no pin
    std::uint32_t unused_ = 0;
};
static_assert(sizeof(AclEntry) == 24, "the table's record layout");

class Acl {
public:
    // Throws Error "ORIGIN:LINE: why" for a malformed line, a duplicate MAC
    // (naming the first line too), an unknown or repeated key.
    static Acl parse(std::string_view text, const std::string& origin);

    // A table as bytes() gave it, kept alive by `owner` (a mapping, a
    // string). Checks every offset, so a damaged table fails here rather
    // than in a lookup; throws Error "ORIGIN: why".
    static Acl from_table(std::shared_ptr<const void> owner, std::string_view bytes, const std::string& origin);

    // The compiled table: what a watcher publishes and from_table() reads.
    std::string_view bytes() const noexcept { return bytes_; }

    const AclEntry* find(Mac mac) const noexcept { return find_value(mac.value()); }
    std::size_t size() const noexcept { return count_; }

private:
    const AclEntry* find_value(std::uint64_t mac) const noexcept;

    std::shared_ptr<const void> owner_;
    std::string_view bytes_;
    const AclEntry* records_ = nullptr;
    const std::uint32_t* buckets_ = nullptr;   // record index + 1; 0: empty
    std::uint64_t count_ = 0;
    std::uint64_t mask_ = 0;                   // bucket count - 1
    unsigned shift_ = 64;                      // a hash's top bits pick its bucket
};

}  // namespace polyprov
