#include "write_files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <polyprov/error.hpp>

namespace polyprov::cli {
namespace {

// Until the renames start, no file has been touched.
[[noreturn]] void fail(const std::string& path, const char* what, int err) {
    throw Error(path + ": " + what + ": " + std::strerror(err) + "; no file was replaced");
}

bool write_all(int fd, const std::string& data) {
    for (std::size_t done = 0; done < data.size();) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// A fresh name in the directory: ".NAME.<tag>.<pid>.<n>".
std::string scratch_name(const std::string& name, const char* tag) {
    static unsigned counter = 0;
    return "." + name + "." + tag + "." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// Names in the directory to remove unless the set was committed.
struct Scratch {
    int dirfd;
    std::vector<std::string> names;
    ~Scratch() {
        for (const auto& n : names) ::unlinkat(dirfd, n.c_str(), 0);
    }
};

}  // namespace

void write_files_atomically(const std::string& dir, const std::vector<FileContent>& files, mode_t mode) {
    LockedDirectory(dir).write_files(files, mode);
}

LockedDirectory::LockedDirectory(std::string dir) : dir_(std::move(dir)), fd_(-1) {
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) fail(dir_, "cannot be created", errno);
    Fd d;
    d.fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d.fd < 0) fail(dir_, "cannot be used", errno);
    if (::flock(d.fd, LOCK_EX) != 0) fail(dir_, "cannot be locked", errno);
    fd_ = d.fd;
    d.fd = -1;
}

LockedDirectory::~LockedDirectory() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void LockedDirectory::write_files(const std::vector<FileContent>& files, mode_t mode) const {
    const std::string& dir = dir_;
    const struct {
        int fd;
    } d{fd_};  // the directory, not closed here: closing it would drop the lock

    struct Target {
        std::string path, temp, previous;  // previous: "" when there was no old file
    };
    std::vector<Target> targets;
    for (const auto& f : files) {
        Target t{dir + "/" + f.name, {}, {}};
        struct stat st {};
        if (::fstatat(d.fd, f.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (!S_ISREG(st.st_mode)) throw Error(t.path + ": is not a regular file; no file was replaced");
            t.previous = scratch_name(f.name, "previous");
        } else if (errno != ENOENT) {
            fail(t.path, "cannot be examined", errno);
        }
        targets.push_back(std::move(t));
    }

    Scratch temps{d.fd, {}}, previous{d.fd, {}};
    for (std::size_t i = 0; i < files.size(); ++i) {
        Target& t = targets[i];
        t.temp = scratch_name(files[i].name, "new");
        Fd out;
        out.fd = ::openat(d.fd, t.temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (out.fd < 0) fail(t.path, "cannot be written", errno);
        temps.names.push_back(t.temp);
        if (::fchmod(out.fd, mode) != 0 || !write_all(out.fd, files[i].content) || ::fsync(out.fd) != 0)
            fail(t.path, "cannot be written", errno);
        const int fd = out.fd;
        out.fd = -1;
        if (::close(fd) != 0) fail(t.path, "cannot be written", errno);
        if (!t.previous.empty()) {
            if (::linkat(d.fd, files[i].name.c_str(), d.fd, t.previous.c_str(), 0) != 0)
                fail(t.path, "cannot be kept while it is replaced", errno);
            previous.names.push_back(t.previous);
        }
    }

    for (std::size_t i = 0; i < files.size(); ++i) {
        if (::renameat(d.fd, targets[i].temp.c_str(), d.fd, files[i].name.c_str()) == 0) continue;
        const int err = errno;
        std::string left = "no file was replaced";
        for (std::size_t j = 0; j < i; ++j) {
            const bool restored = targets[j].previous.empty()
                                      ? ::unlinkat(d.fd, files[j].name.c_str(), 0) == 0
                                      : ::renameat(d.fd, targets[j].previous.c_str(), d.fd, files[j].name.c_str()) == 0;
            if (restored) continue;
            left = targets[j].path + " holds the NEW content";
            if (!targets[j].previous.empty()) {
                // The link is now the only copy of the old file: keep it.
                auto& names = previous.names;
                names.erase(std::remove(names.begin(), names.end(), targets[j].previous), names.end());
                left += "; the old one is " + dir + "/" + targets[j].previous;
            }
        }
        throw Error(targets[i].path + ": cannot be replaced: " + std::strerror(err) + "; " + left);
    }
    temps.names.clear();  // renamed: nothing left to remove
    // The renames are durable only once the directory is.
    if (::fsync(d.fd) != 0)
        std::fprintf(stderr, "polyprov: warning: %s: cannot be synced: %s\n", dir.c_str(), std::strerror(errno));
}

}  // namespace polyprov::cli
