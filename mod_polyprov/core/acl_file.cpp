#include <polyprov/acl_file.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include <polyprov/error.hpp>

namespace polyprov {

AclFile::AclFile(std::string path, Clock::duration check_interval)
    : path_(std::move(path)), interval_(check_interval), next_check_(0) {
    const auto stamp = stat_file(path_);
    if (!stamp) throw Error(path_ + ": cannot be read: " + std::strerror(errno));
    acl_ = load(path_);
    loaded_ = *stamp;
    next_check_.store((Clock::now() + interval_).time_since_epoch().count(), std::memory_order_relaxed);
}

std::optional<AclFile::Stamp> AclFile::stat_file(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    Stamp s;
    s.dev = static_cast<std::uint64_t>(st.st_dev);
    s.ino = static_cast<std::uint64_t>(st.st_ino);
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    return s;
}

std::shared_ptr<const Acl> AclFile::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot be read: " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw Error(path + ": read error");
    return std::make_shared<const Acl>(Acl::parse(text.str(), path));
}

AclFile::View AclFile::current(Clock::time_point now) {
    View view;
    const auto now_rep = now.time_since_epoch().count();
    if (now_rep < next_check_.load(std::memory_order_relaxed)) {
        view.acl = std::atomic_load(&acl_);
        return view;
    }
    // One thread looks at the file; the others keep serving the current list.
    std::unique_lock<std::mutex> lock(reload_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {
        view.acl = std::atomic_load(&acl_);
        return view;
    }
    next_check_.store((now + interval_).time_since_epoch().count(), std::memory_order_relaxed);

    const auto stamp = stat_file(path_);
    if (!stamp) {
        // Gone or unreadable: keep serving the last good list, say so once.
        const Stamp missing{};
        if (!refused_ || !(*refused_ == missing)) {
            view.failed = path_ + ": cannot be read: " + std::strerror(errno) + "; keeping the last good list";
            refused_ = missing;
        }
    } else if (!(*stamp == loaded_) && !(refused_ && *refused_ == *stamp)) {
        try {
            auto fresh = load(path_);
            view.reloaded = std::to_string(fresh->size()) + " devices";
            std::atomic_store(&acl_, std::shared_ptr<const Acl>(std::move(fresh)));
            loaded_ = *stamp;
            refused_.reset();
        } catch (const std::exception& e) {
            view.failed = std::string(e.what()) + "; keeping the last good list";
            refused_ = *stamp;
        }
    }
    view.acl = std::atomic_load(&acl_);
    return view;
}

}  // namespace polyprov
