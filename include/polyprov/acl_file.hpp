// An ACL file that follows its changes on disk, without a restart.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <polyprov/acl.hpp>

namespace polyprov {

class AclFile {
public:
    using Clock = std::chrono::steady_clock;

    // Loads `path` now; throws Error (with file:line) when it is bad, so that
    // a bad list fails configtest rather than the first phone.
    explicit AclFile(std::string path, Clock::duration check_interval = std::chrono::seconds(1));

    struct View {
        std::shared_ptr<const Acl> acl;        // never null
        std::optional<std::string> reloaded;   // "N devices": the list was just reloaded
        std::optional<std::string> failed;     // why a changed file was refused, the first time only
    };
    // The current list. At most once per check interval it stats the file
    // and, when it changed, parses it; a bad file keeps the last good list.
    // Safe from many threads; only one of them reloads.
    View current(Clock::time_point now = Clock::now());

    const std::string& path() const noexcept { return path_; }

private:
    struct Stamp {
        std::uint64_t dev = 0, ino = 0, size = 0;
        std::int64_t mtime_ns = -1;
        bool operator==(const Stamp& o) const {
            return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
        }
    };
    static std::optional<Stamp> stat_file(const std::string& path);
    static std::shared_ptr<const Acl> load(const std::string& path);

    const std::string path_;
    const Clock::duration interval_;
    std::shared_ptr<const Acl> acl_;   // read and replaced with std::atomic_load/store
    std::atomic<Clock::rep> next_check_;
    std::mutex reload_mutex_;
    Stamp loaded_;                      // guarded by reload_mutex_
    std::optional<Stamp> refused_;      // the bad version already reported
};

}  // namespace polyprov
