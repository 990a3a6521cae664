#include "write_files.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <polyprov/error.hpp>

namespace polyprov::cli {
namespace {

[[noreturn]] void fail(const std::string& path, const char* what, int err) {
    throw Error(path + ": " + what + ": " + std::strerror(err));
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

// Temporary files written so far; removed unless they were renamed.
struct Staged {
    std::vector<std::string> paths;
    bool committed = false;
    ~Staged() {
        if (!committed)
            for (const auto& p : paths) ::unlink(p.c_str());
    }
};

}  // namespace

void write_files_atomically(const std::string& dir, const std::vector<FileContent>& files, mode_t mode) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail(dir, "cannot be created", errno);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) fail(dir, "cannot be used", errno);
    if (!S_ISDIR(st.st_mode)) fail(dir, "cannot be used", ENOTDIR);

    // Checked first, so that a rename cannot fail half-way through the set.
    for (const auto& f : files) {
        const std::string target = dir + "/" + f.name;
        if (::lstat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
            throw Error(target + ": is not a regular file; not replaced");
    }

    Staged staged;
    for (const auto& f : files) {
        std::string tmp = dir + "/." + f.name + ".XXXXXX";
        const int fd = ::mkstemp(tmp.data());
        if (fd < 0) fail(dir + "/" + f.name, "cannot be written", errno);
        staged.paths.push_back(tmp);
        const bool ok = ::fchmod(fd, mode) == 0 && write_all(fd, f.content) && ::fsync(fd) == 0;
        const int err = errno;
        if (::close(fd) != 0 || !ok) fail(dir + "/" + f.name, "cannot be written", ok ? errno : err);
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
        const std::string target = dir + "/" + files[i].name;
        if (::rename(staged.paths[i].c_str(), target.c_str()) != 0) fail(target, "cannot be replaced", errno);
    }
    staged.committed = true;
    // The renames are durable only once the directory is.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace polyprov::cli
