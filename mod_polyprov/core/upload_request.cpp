#include <polyprov/upload_request.hpp>

#include <polyprov/access_policy.hpp>

namespace polyprov {
namespace {

UploadPlan refuse(int status, const char* reason, std::string detail) {
    UploadPlan plan;
    plan.status = status;
    plan.reason = reason;
    plan.detail = std::move(detail);
    return plan;
}

// Content-Length as HTTP writes it: decimal digits only, no sign.
std::optional<std::uint64_t> parse_length(std::string_view text) noexcept {
    if (text.empty() || text.size() > 18) return std::nullopt;
    std::uint64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

}  // namespace

UploadPlan plan_upload(std::string_view name, Mac device, const char* content_range, const char* content_length,
                       std::uint64_t max_size) {
    if (!upload_name_allowed(name, device))
        return refuse(403, "not-writable", "not a name this device may write (<its MAC>-<name>.log, .cfg or .xml)");
    UploadPlan plan;
    if (content_range) {
        plan.range = parse_content_range(content_range);
        if (!plan.range) return refuse(400, "bad-range", "malformed Content-Range");
        if (plan.range->length() > max_size) return refuse(413, "too-large", "range larger than PolyProvUploadMaxSize");
        plan.length = plan.range->length();
    }
    if (content_length) {
        // httpd has already refused a Content-Length it cannot read; one we
        // cannot read here is not trusted for anything.
        const auto declared = parse_length(content_length);
        if (!declared) return refuse(400, "bad-length", "malformed Content-Length");
        if (*declared > max_size) return refuse(413, "too-large", "body larger than PolyProvUploadMaxSize");
        if (plan.length && *declared != *plan.length)
            return refuse(400, "bad-length", "Content-Length does not match Content-Range");
        plan.length = declared;
    }
    return plan;
}

std::optional<std::string> body_mismatch(const UploadPlan& plan, std::uint64_t received) {
    if (!plan.length || *plan.length == received) return std::nullopt;
    return "body has " + std::to_string(received) + " bytes, the " + (plan.range ? "range " : "Content-Length ") +
           std::to_string(*plan.length);
}

}  // namespace polyprov
