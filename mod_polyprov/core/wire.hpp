// The byte layout the fleet's cache entries share: LEB128 varints and
// length-prefixed strings. Internal to the core. The reader never reads past
// its input and remembers the first fault, so a decoder checks once, at the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace polyprov::detail {

class WireWriter {
public:
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    void bytes(std::string_view s) {
        varint(s.size());
        out_.append(s.data(), s.size());
    }
    void raw(std::string_view s) { out_.append(s.data(), s.size()); }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

class WireReader {
public:
    explicit WireReader(std::string_view in) noexcept : in_(in) {}

    std::uint8_t u8() noexcept {
        if (!ok_ || pos_ >= in_.size()) return fail(), 0;
        return static_cast<std::uint8_t>(in_[pos_++]);
    }
    // Minimal encodings only: one value has one form, so a decoded entry
    // re-encodes to the same bytes.
    std::uint64_t varint() noexcept {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const std::uint8_t b = u8();
            if (!ok_) return 0;
            if (shift == 63 && b > 1) return fail(), 0;
            v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) {
                if (b == 0 && shift > 0) return fail(), 0;
                return v;
            }
        }
        return fail(), 0;
    }
    std::uint64_t varint_max(std::uint64_t max) noexcept {
        const std::uint64_t v = varint();
        if (v > max) return fail(), 0;
        return v;
    }
    std::string_view bytes(std::size_t max) noexcept {
        const std::uint64_t n = varint_max(max);
        return raw(static_cast<std::size_t>(n));
    }
    std::string_view raw(std::size_t n) noexcept {
        if (!ok_ || in_.size() - pos_ < n) return fail(), std::string_view();
        const std::string_view s = in_.substr(pos_, n);
        pos_ += n;
        return s;
    }
    bool ok() const noexcept { return ok_; }
    // Everything read, nothing left over, no fault on the way.
    bool done() const noexcept { return ok_ && pos_ == in_.size(); }
    void fail() noexcept { ok_ = false; }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace polyprov::detail
