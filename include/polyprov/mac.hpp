// A device's MAC address, as phones, certificates and operators write it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace polyprov {

class Mac {
public:
    // Accepts the notations operators paste: 0004F2586A4B, 00:04:f2:58:6a:4b,
    // 00-04-F2-58-6A-4B, 0004.f258.6a4b. One separator style per address;
    // anything else (wrong length, stray characters) is rejected.
    static std::optional<Mac> parse(std::string_view text) noexcept;

    // Twelve upper-case hex digits: the form of POLYPROV_MAC and of logs.
    std::string str() const;
    // The same into a caller's buffer, NUL-terminated: no allocation.
    static constexpr std::size_t kTextSize = 13;
    void format(char (&out)[kTextSize]) const noexcept;

    // 000000000000 names the files every phone shares (master config).
    bool is_shared() const noexcept { return value_ == 0; }

    std::uint64_t value() const noexcept { return value_; }
    friend bool operator==(Mac a, Mac b) noexcept { return a.value_ == b.value_; }
    friend bool operator!=(Mac a, Mac b) noexcept { return a.value_ != b.value_; }

private:
    explicit Mac(std::uint64_t value) noexcept : value_(value) {}
    std::uint64_t value_;
};

}  // namespace polyprov
