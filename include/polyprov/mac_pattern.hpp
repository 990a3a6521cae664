// Where MACs hide in text: request paths and certificate CNs
// (PolyProvMACPattern, PolyProvCNPattern), as Boost.Regex patterns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/regex.hpp>

#include <polyprov/mac.hpp>

namespace polyprov {

class MacPattern {
public:
    // Runs of 12 or more hex digits, and the colon, dash and dotted MAC
    // notations, each between non-hex characters. A run is always found
    // whole; one longer than 12 digits names no
    // MAC: a caller that meets it must fail closed. It finds the MAC in a
    // Polycom CN (0004F2586A4B) and in a Cisco-style one (SEP0004F2586A4B).
    static const char* const kDefault;

    // Throws Error when `regex` is not a valid Boost.Regex (Perl syntax).
    static MacPattern compile(const std::string& regex);

    struct Match {
        std::string_view text;    // what the pattern matched (group 1 when it has one)
        std::optional<Mac> mac;   // null when that text is no valid MAC
    };
    // Every non-overlapping match, left to right. The default pattern is
    // matched by a linear scan with the same results as the regex (it runs
    // on every request's paths; tests/fuzz/fuzz_default_pattern checks the
    // two agree); any other pattern by Boost.Regex.
    std::vector<Match> find_all(std::string_view text) const;

    // The same matches handed to `on_match` one by one, without building a
    // list (every request's paths go through here); it returns false to
    // stop. Returns false when it was stopped.
    template <class OnMatch>
    bool each_match(std::string_view text, OnMatch&& on_match) const {
        using Callable = std::remove_reference_t<OnMatch>;
        return visit(text, [](void* f, const Match& m) { return (*static_cast<Callable*>(f))(m); },
                     const_cast<void*>(static_cast<const void*>(&on_match)));
    }

    // The same through Boost.Regex whatever the pattern: the reference.
    std::vector<Match> find_all_by_regex(std::string_view text) const;

    const std::string& source() const noexcept { return source_; }
    bool is_default() const noexcept { return is_default_; }

private:
    using Visitor = bool (*)(void* context, const Match& match);
    bool visit(std::string_view text, Visitor visitor, void* context) const;

    MacPattern(boost::regex re, std::string source)
        : re_(std::move(re)), source_(std::move(source)), is_default_(source_ == kDefault) {}
    boost::regex re_;
    std::string source_;
    bool is_default_;
};

// The one device a CN names: exactly one distinct valid MAC and no match
// that names none. Anything else (no MAC, two MACs, a 13-digit run) is null.
std::optional<Mac> device_mac_from_cn(std::string_view cn, const MacPattern& pattern);

}  // namespace polyprov
