#include <polyprov/upload_store.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <polyprov/error.hpp>

namespace polyprov {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

UploadResult io_failure(int err, const std::string& what) {
    const bool full = err == ENOSPC || err == EDQUOT;
    return {full ? UploadStatus::disk_full : UploadStatus::failed, 0, what + ": " + errno_text(err)};
}

// Writes all of `data` at `offset`; false with errno set on failure.
bool pwrite_all(int fd, const char* data, std::size_t length, std::uint64_t offset) {
    while (length > 0) {
        const ssize_t n = ::pwrite(fd, data, length, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data += n;
        length -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

bool pread_all(int fd, char* data, std::size_t length, std::uint64_t offset) {
    while (length > 0) {
        const ssize_t n = ::pread(fd, data, length, static_cast<off_t>(offset));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) errno = EIO;
            return false;
        }
        data += n;
        length -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

// FNV-1a: the same name must give the same lock offset in every process.
std::uint64_t name_hash(const std::string& name) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    return h;
}

constexpr const char* kTempPrefix = ".polyprov-upload-";

// A lock on the whole of `fd`'s file, not waited for: `type` F_WRLCK or
// F_RDLCK. An upload holds a write lock on its temporary for as long as the
// temporary is open, so that a sweep by any process, of this server or of
// another node sharing the directory, can tell an upload in flight from one
// whose process died (the kernel, or the NFS server when the lease ends,
// drops a dead holder's locks): the file's age, measured by clocks that may
// differ, cannot. A sweep's read lock conflicts with it all the same.
bool lock_whole_file(int fd, short type) {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
    for (;;) {
        if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
        if (errno != EINTR) return false;
    }
}

// Whether `name` in `dir_fd` is still the file open as `fd`.
bool still_named(int dir_fd, const char* name, int fd) {
    struct stat named {}, opened {};
    return ::fstatat(dir_fd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 && ::fstat(fd, &opened) == 0 &&
           named.st_ino == opened.st_ino && named.st_dev == opened.st_dev;
}

// A new temporary file in the directory, locked: -1 with errno set on failure.
int create_temp_file(int dir_fd, std::string& name) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    int err = EEXIST;
    for (int attempt = 0; attempt < 16; ++attempt) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%ld-%016llx", kTempPrefix, static_cast<long>(::getpid()),
                      static_cast<unsigned long long>(rng()));
        const int fd = ::openat(dir_fd, buf, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                UploadDirectory::kFileMode);
        if (fd < 0) {
            if (errno != EEXIST) return -1;
            continue;
        }
        // Until it is locked, a sweep on a node whose clock runs far ahead
        // may take the new file for a dead upload's and remove it: then the
        // lock fails or the name is gone, and another name is tried.
        const bool locked = lock_whole_file(fd, F_WRLCK);
        err = locked ? EEXIST : errno;
        if (locked && still_named(dir_fd, buf, fd)) {
            name = buf;
            return fd;
        }
        ::close(fd);
        if (!locked && err != EAGAIN && err != EACCES) {
            // No locks on this file system (ENOLCK): no upload can be safe.
            ::unlinkat(dir_fd, buf, 0);
            errno = err;
            return -1;
        }
    }
    errno = err;
    return -1;
}

}  // namespace

// ---------------------------------------------------------------- StagedBody

StagedBody::StagedBody(StagedBody&& other) noexcept
    : dir_fd_(other.dir_fd_), dir_path_(std::move(other.dir_path_)), memory_(std::move(other.memory_)),
      fd_(other.fd_), name_(std::move(other.name_)), size_(other.size_), error_(other.error_) {
    other.fd_ = -1;
    other.name_.clear();
}

StagedBody::~StagedBody() {
    if (fd_ >= 0) ::close(fd_);
    if (!name_.empty()) ::unlinkat(dir_fd_, name_.c_str(), 0);
}

bool StagedBody::spill() noexcept {
    fd_ = create_temp_file(dir_fd_, name_);
    if (fd_ < 0 || !pwrite_all(fd_, memory_.data(), memory_.size(), 0)) {
        error_ = errno;
        return false;
    }
    std::string().swap(memory_);
    return true;
}

bool StagedBody::append(const char* data, std::size_t length) noexcept {
    if (error_ != 0) return false;
    if (fd_ < 0 && size_ + length <= kInMemory) {
        try {
            memory_.append(data, length);
        } catch (...) {
            error_ = ENOMEM;
            return false;
        }
        size_ += length;
        return true;
    }
    if (fd_ < 0 && !spill()) return false;
    if (!pwrite_all(fd_, data, length, size_)) {
        error_ = errno;
        return false;
    }
    size_ += length;
    return true;
}

bool StagedBody::read_at(char* out, std::size_t length, std::uint64_t offset) const noexcept {
    if (fd_ < 0) {
        std::memcpy(out, memory_.data() + offset, length);
        return true;
    }
    return pread_all(fd_, out, length, offset);
}

// ---------------------------------------------------------------- locking

// An exclusive lock on one byte of the directory's lock file, chosen by the
// name. Open-file-description locks: they exclude other threads of this
// process as well as other processes, which classic fcntl locks do not.
// The wait is bounded: a writer stuck while holding the lock (a hung
// fsync) must not hang every later request for the file. Blocking waits
// cannot be bounded without signals, which a threaded httpd child may not
// use, so it polls, briefly at first: a healthy holder needs one fsync.
class UploadDirectory::NameLock {
public:
    NameLock(int dir_fd, const std::string& name, std::chrono::milliseconds wait) {
        fd_ = ::openat(dir_fd, kLockFile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd_ < 0) {
            result_ = io_failure(errno, std::string("lock file ") + kLockFile);
            return;
        }
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = static_cast<off_t>(name_hash(name) % (1ull << 40));
        fl.l_len = 1;
        const auto deadline = std::chrono::steady_clock::now() + wait;
        std::chrono::microseconds pause(50);
        while (::fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EACCES) {
                result_ = io_failure(errno, std::string("lock ") + kLockFile);
                return;
            }
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) {
                result_ = {UploadStatus::busy, 0,
                           "another writer held the file's lock for " + std::to_string(wait.count()) + " ms"};
                return;
            }
            std::this_thread::sleep_for(
                std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
            pause = std::min(pause * 2, std::chrono::microseconds(2000));
        }
        held_ = true;
    }
    ~NameLock() {
        if (fd_ >= 0) ::close(fd_);  // closing the description releases its locks
    }
    NameLock(const NameLock&) = delete;
    NameLock& operator=(const NameLock&) = delete;

    bool held() const noexcept { return held_; }
    // Why it is not held.
    const UploadResult& failure() const noexcept { return result_; }

private:
    int fd_ = -1;
    bool held_ = false;
    UploadResult result_{UploadStatus::failed, 0, {}};
};

// ---------------------------------------------------------------- directory

UploadDirectory::UploadDirectory(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw Error(path + ": " + errno_text(errno));
}

UploadDirectory::~UploadDirectory() { ::close(fd_); }

StagedBody UploadDirectory::stage() const { return StagedBody(fd_, path_); }

unsigned UploadDirectory::sweep_stale_temporaries(long idle_seconds) const noexcept {
    const int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        ::close(fd);
        return 0;
    }
    const std::time_t now = std::time(nullptr);
    unsigned removed = 0;
    while (const dirent* e = ::readdir(dir)) {
        if (std::strncmp(e->d_name, kTempPrefix, std::strlen(kTempPrefix)) != 0) continue;
        struct stat st {};
        if (::fstatat(fd_, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (now - st.st_mtime < idle_seconds) continue;
        // Still locked: an upload in flight, however long it has been quiet.
        // Opened for reading only: removing a name needs no write access to
        // the file, and nothing swapped in is opened for writing.
        const int temp = ::openat(fd_, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (temp < 0) continue;
        struct stat opened {};
        const bool same = ::fstat(temp, &opened) == 0 && S_ISREG(opened.st_mode) && opened.st_ino == st.st_ino &&
                          opened.st_dev == st.st_dev;
        if (same && lock_whole_file(temp, F_RDLCK) && ::unlinkat(fd_, e->d_name, 0) == 0) ++removed;
        ::close(temp);
    }
    ::closedir(dir);
    return removed;
}

// Makes the staged body the file `name`: fsync, rename over, fsync the directory.
UploadResult UploadDirectory::install(const std::string& name, StagedBody& body, UploadStatus status) const {
    if (body.fd_ < 0 && !body.spill()) return io_failure(body.error(), "write");
    if (::fsync(body.fd_) != 0) return io_failure(errno, "fsync");
    if (::renameat(fd_, body.name_.c_str(), fd_, name.c_str()) != 0) {
        const int err = errno;
        if (err == EISDIR || err == ENOTDIR || err == ENOTEMPTY)
            return {UploadStatus::not_regular, 0, "the target is a directory"};
        return io_failure(err, "rename");
    }
    body.name_.clear();
    ::fsync(fd_);  // the rename is done; a failed directory sync cannot undo it
    return {status, body.size(), {}};
}

UploadResult UploadDirectory::replace(const std::string& name, StagedBody& body, const UploadLimits& limits) const {
    if (body.size() > limits.max_size) return {UploadStatus::too_large, 0, "body larger than the size limit"};
    NameLock lock(fd_, name, limits.lock_wait);
    if (!lock.held()) return lock.failure();
    struct stat st {};
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISREG(st.st_mode)) return {UploadStatus::not_regular, 0, "the target is not a regular file"};
        return install(name, body, UploadStatus::replaced);
    }
    if (errno != ENOENT) return io_failure(errno, "stat");
    return install(name, body, UploadStatus::created);
}

UploadResult UploadDirectory::rotate_then_install(const std::string& name, StagedBody& body,
                                                  const UploadLimits& limits) const {
    // The new file first, on disk and synced under its temporary name, so a
    // full disk stops us before any generation has moved.
    if (body.fd_ < 0 && !body.spill()) return io_failure(body.error(), "write");
    if (::fsync(body.fd_) != 0) return io_failure(errno, "fsync");

    // Then the generations, oldest first: name.keep is dropped, name.k
    // becomes name.k+1, name becomes name.1. Renames need no room.
    if (limits.keep == 0) {
        ::unlinkat(fd_, name.c_str(), 0);
    } else {
        ::unlinkat(fd_, (name + "." + std::to_string(limits.keep)).c_str(), 0);
        for (unsigned k = limits.keep; k > 1; --k) {
            const std::string from = name + "." + std::to_string(k - 1), to = name + "." + std::to_string(k);
            if (::renameat(fd_, from.c_str(), fd_, to.c_str()) != 0 && errno != ENOENT)
                return io_failure(errno, "rotate " + from);
        }
        if (::renameat(fd_, name.c_str(), fd_, (name + ".1").c_str()) != 0) return io_failure(errno, "rotate " + name);
    }
    UploadResult result = install(name, body, UploadStatus::rotated);
    if (result.status != UploadStatus::rotated && limits.keep > 0)
        ::renameat(fd_, (name + ".1").c_str(), fd_, name.c_str());  // put the current file back
    return result;
}

UploadResult UploadDirectory::write_at(const std::string& name, std::uint64_t start, StagedBody& body,
                                       const UploadLimits& limits) const {
    if (body.size() > limits.max_size) return {UploadStatus::too_large, 0, "body larger than the size limit"};
    NameLock lock(fd_, name, limits.lock_wait);
    if (!lock.held()) return lock.failure();

    // The type first, without following or opening: opening a fifo or a
    // device has effects of its own, and a refused open would hide the type.
    struct stat st {};
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
        return {UploadStatus::not_regular, 0, "the target is not a regular file"};
    const int fd = ::openat(fd_, name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            if (start != 0) return {UploadStatus::start_beyond_end, 0, "the file does not exist yet"};
            return install(name, body, UploadStatus::created);
        }
        if (errno == ELOOP || errno == EISDIR || errno == ENXIO)
            return {UploadStatus::not_regular, 0, "the target is not a regular file"};
        return io_failure(errno, "open");
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};

    if (::fstat(fd, &st) != 0) return io_failure(errno, "stat");
    if (!S_ISREG(st.st_mode))  // swapped in since the look above
        return {UploadStatus::not_regular, 0, "the target is not a regular file"};
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (start > size) return {UploadStatus::start_beyond_end, size, "range starts beyond the end"};

    const std::uint64_t end = start + body.size();
    if (std::max(size, end) > limits.max_size) return rotate_then_install(name, body, limits);

    std::vector<char> buffer(64 * 1024);

    // Keep what the body overwrites, so a failure can put it back: in memory
    // when small, in a temporary file when not (a resend of a whole file).
    StagedBody saved = stage();
    for (std::uint64_t at = start; at < std::min(size, end);) {
        const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), std::min(size, end) - at));
        if (!pread_all(fd, buffer.data(), chunk, at)) return io_failure(errno, "read");
        if (!saved.append(buffer.data(), chunk)) return io_failure(saved.error(), "saving the overwritten bytes");
        at += chunk;
    }

    auto restore = [&](int err, const char* what) {
        bool restored = true;
        for (std::uint64_t done = 0; done < saved.size();) {
            const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), saved.size() - done));
            restored = restored && saved.read_at(buffer.data(), chunk, done) &&
                       pwrite_all(fd, buffer.data(), chunk, start + done);
            done += chunk;
        }
        restored = ::ftruncate(fd, static_cast<off_t>(size)) == 0 && restored;
        ::fsync(fd);
        UploadResult r = io_failure(err, what);
        if (!restored) r.detail += " (and the file could not be fully restored)";
        return r;
    };

    for (std::uint64_t done = 0; done < body.size();) {
        const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), body.size() - done));
        if (!body.read_at(buffer.data(), chunk, done)) return restore(errno, "read body");
        if (!pwrite_all(fd, buffer.data(), chunk, start + done)) return restore(errno, "write");
        done += chunk;
    }
    if (::fsync(fd) != 0) return restore(errno, "fsync");
    return {UploadStatus::written, std::max(size, end), {}};
}

}  // namespace polyprov
