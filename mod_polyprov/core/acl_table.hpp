// The ACL's compiled table (acl.hpp): its builder. The layout and its
// check are in acl_table.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/acl.hpp>

namespace polyprov {

class AclTableBuilder {
public:
    // For at most `most` devices: the index is sized once, and is what
    // finds a MAC listed twice while the file is read.
    explicit AclTableBuilder(std::size_t most);

    // Adds a device (in file order). Returns the line the MAC is listed on
    // already, or 0 when it is new (then it is added).
    int add(Mac mac, std::string_view label, const std::optional<Sha256>& pin, int line);

    // The table. Throws Error when it would not fit 32-bit offsets.
    std::string finish() const;

private:
    unsigned bits_;
    std::vector<std::uint32_t> buckets_;   // record number + 1; 0: empty
    struct Record {
        std::uint64_t mac;
        std::uint32_t line;
        std::uint32_t label;   // offset into labels_
        std::uint32_t pin;     // number + 1 into pins_; 0: none
    };
    std::vector<Record> records_;
    std::string labels_ = std::string(1, '\0');   // the first byte: every unlabelled line's ""
    std::vector<Sha256> pins_;
};

}  // namespace polyprov
