// A phone's PUT: the target name, Content-Range and Content-Length are the
// phone's to choose, and decide together whether the body is received.
// Input: name, Content-Range and Content-Length separated by newlines; a
// missing line is a missing header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <polyprov/access_policy.hpp>
#include <polyprov/upload_request.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const polyprov::Mac device = *polyprov::Mac::parse("0004F2000001");
    constexpr std::uint64_t kMax = 10ull << 20;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string fields[3];
    bool present[3] = {false, false, false};
    for (int i = 0; i < 3 && !text.empty(); ++i) {
        const std::size_t eol = text.find('\n');
        fields[i] = std::string(text.substr(0, eol));
        present[i] = true;
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    }
    const polyprov::UploadPlan plan = polyprov::plan_upload(fields[0], device, present[1] ? fields[1].c_str() : nullptr,
                                                            present[2] ? fields[2].c_str() : nullptr, kMax);
    if (plan.status == 0) {
        // Nothing goes ahead that the name rule refuses or that exceeds the limit.
        if (!polyprov::upload_name_allowed(fields[0], device)) std::abort();
        if (fields[0].find('/') != std::string::npos || fields[0].find('.') == 0) std::abort();
        if (plan.length && *plan.length > kMax) std::abort();
        if (plan.range && (plan.range->last < plan.range->first || plan.range->length() != *plan.length)) std::abort();
        if (plan.length && polyprov::body_mismatch(plan, *plan.length)) std::abort();
    } else if (plan.status != 400 && plan.status != 403 && plan.status != 413) {
        std::abort();
    }
    return 0;
}
