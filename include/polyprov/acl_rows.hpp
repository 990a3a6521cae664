// The allow-list as the rows of an SQL query (PolyProvACLQuery): column 1
// the MAC in any notation the file takes, 2 a label, 3 a SHA-256 pin (both
// optional, NULL allowed). Unlike a file, which is refused whole for one
// bad line, a query's result is the operator's inventory as it stands: a
// bad row is left out (that device is denied) and reported, and the rest
// is the list.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <polyprov/acl.hpp>
#include <polyprov/sha256.hpp>

namespace polyprov {

// One row as the database driver gave it; nullopt for SQL NULL or a column
// the query does not have.
struct AclRow {
    std::optional<std::string> mac, label, pin;
};

// A row left out, or a duplicate MAC that kept its first row.
struct AclRowProblem {
    std::size_t row = 0;      // 1-based, in the order the query returned them
    std::string value;        // the offending value, as printable text
    std::string why;
};

struct AclFromRows {
    std::shared_ptr<const Acl> acl;
    std::vector<AclRowProblem> problems;
};

// Takes the rows one at a time, as a driver hands them over, keeping of
// each only what the list needs (24 bytes and its label): a million rows
// are never held as strings.
class AclRowsBuilder {
public:
    // The next row's columns; null for SQL NULL or a column the query does
    // not have.
    void add(const char* mac, const char* label, const char* pin);

    // The list the rows make; throws Error only when it cannot be built at
    // all (more than the table's 32-bit offsets hold). Once.
    AclFromRows finish(const std::string& origin);

    std::size_t rows() const noexcept { return rows_; }

private:
    struct Candidate {
        Mac mac;
        std::uint32_t row;
        std::uint32_t label;     // offset into labels_
        std::uint32_t pin;       // number + 1 into pins_; 0: none
        std::uint32_t unused = 0;
    };
    void left_out(std::size_t row, const std::string& value, std::string why);

    std::size_t rows_ = 0;
    std::vector<Candidate> candidates_;
    std::string labels_ = std::string(1, '\0');   // every unlabelled row's ""
    std::vector<Sha256> pins_;
    std::unordered_map<std::uint64_t, std::size_t> refused_;   // MAC -> the bad row
    std::vector<AclRowProblem> problems_;
};

// The same, for rows held already.
AclFromRows acl_from_rows(const std::vector<AclRow>& rows, const std::string& origin);

}  // namespace polyprov
