// Whether a phone's PUT may go ahead, decided from its headers before one
// byte of the body is read, and whether the body that came matches them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <polyprov/content_range.hpp>
#include <polyprov/mac.hpp>

namespace polyprov {

struct UploadPlan {
    int status = 0;                       // 0: receive the body; otherwise the HTTP status to answer
    const char* reason = "";              // short, for the log line: not-writable, bad-range, bad-length, too-large
    std::string detail;                   // for the log line
    std::optional<ContentRange> range;    // an append (or a write at an offset)
    std::optional<std::uint64_t> length;  // what the body must hold, when the headers say
};

// `name` is the target's last path component; the headers are null when
// absent. Refuses a name the device may not write (403), a malformed
// Content-Range (400), a range or Content-Length past `max_size` (413), and
// a Content-Length that disagrees with the range (400).
UploadPlan plan_upload(std::string_view name, Mac device, const char* content_range, const char* content_length,
                       std::uint64_t max_size);

// After the body: null when `received` bytes are what the plan expects,
// otherwise why not (the answer is 400).
std::optional<std::string> body_mismatch(const UploadPlan& plan, std::uint64_t received);

}  // namespace polyprov
