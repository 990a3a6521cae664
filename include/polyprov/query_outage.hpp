// When a list comes from a database, what the one process that runs its
// query says about the database: once when it stops answering (however
// many runs fail), once when it answers again. Between the two, every
// process keeps the last good list.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace polyprov {

class QueryOutage {
public:
    using Clock = std::chrono::steady_clock;

    // A run that failed for `why`: the message for the log when this run
    // begins an outage, nothing while one lasts.
    std::optional<std::string> failed(const std::string& why, Clock::time_point now);

    // A run that answered: the message for the log when it ends an outage.
    std::optional<std::string> answered(Clock::time_point now);

    bool ongoing() const noexcept { return since_.has_value(); }
    std::uint64_t failed_runs() const noexcept { return failed_runs_; }

private:
    std::optional<Clock::time_point> since_;
    std::uint64_t failed_runs_ = 0;    // in this outage
};

}  // namespace polyprov
