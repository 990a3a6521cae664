#include <polyprov/query_outage.hpp>

#include <polyprov/duration.hpp>

namespace polyprov {

std::optional<std::string> QueryOutage::failed(const std::string& why, Clock::time_point now) {
    ++failed_runs_;
    if (since_) return std::nullopt;
    since_ = now;
    return why;
}

std::optional<std::string> QueryOutage::answered(Clock::time_point now) {
    if (!since_) return std::nullopt;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - *since_).count();
    std::string message = "the query answers again after " + format_duration(seconds) + " (" +
                          std::to_string(failed_runs_) + " failed run" + (failed_runs_ == 1 ? "" : "s") + ")";
    since_.reset();
    failed_runs_ = 0;
    return message;
}

}  // namespace polyprov
