// Storing what phones PUT: whole files replaced atomically, ranges written
// without holes, writers to one file serialised across processes and
// threads, size bounded by rotation, and any failure leaving the file
// byte for byte as it was.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace polyprov {

struct UploadLimits {
    std::uint64_t max_size;  // a file never grows past this; one body larger is refused
    unsigned keep;           // rotated generations kept: name.1 .. name.keep
    // How long a writer waits while another holds the same file (normally
    // for one fsync); the module passes the server's Timeout.
    std::chrono::milliseconds lock_wait{60000};
};

enum class UploadStatus {
    created,            // 201 a new file
    rotated,            // 201 the old file became name.1 and the body started a new one
    replaced,           // 204
    written,            // 204 the range was written (appended, or over the tail)
    not_regular,        // 403 the target exists and is no regular file: left untouched
    start_beyond_end,   // 416 would leave a hole; current_size says where the end is
    too_large,          // 413 one body larger than max_size
    disk_full,          // 507 ENOSPC or EDQUOT
    failed,             // 500 any other I/O error
    busy,               // 503 another writer held the file for longer than lock_wait: left untouched
};

struct UploadResult {
    UploadStatus status;
    std::uint64_t current_size = 0;   // the file's size afterwards (or, for 416, now)
    std::string detail;               // for the log line
};

class UploadDirectory;

// The request body, received before anything at the target is touched (so
// a client that goes away mid-body, or a full disk, costs nothing but this).
// Small bodies, the common case for log appends, stay in memory; a body
// past kInMemory spills into a temporary file in the target directory.
class StagedBody {
public:
    static constexpr std::size_t kInMemory = 64 * 1024;

    StagedBody(StagedBody&& other) noexcept;
    StagedBody& operator=(StagedBody&&) = delete;
    ~StagedBody();

    // False on a write error; error() then holds the errno.
    bool append(const char* data, std::size_t length) noexcept;
    std::uint64_t size() const noexcept { return size_; }
    int error() const noexcept { return error_; }

private:
    friend class UploadDirectory;
    StagedBody(int dir_fd, std::string dir_path) noexcept : dir_fd_(dir_fd), dir_path_(std::move(dir_path)) {}
    bool spill() noexcept;                       // memory -> temporary file
    bool read_at(char* out, std::size_t length, std::uint64_t offset) const noexcept;
    int dir_fd_;
    std::string dir_path_;
    std::string memory_;
    int fd_ = -1;
    std::string name_;   // the temporary file, "" when none or once renamed into place
    std::uint64_t size_ = 0;
    int error_ = 0;
};

class UploadDirectory {
public:
    // Opens the directory uploads go to; throws Error naming it.
    explicit UploadDirectory(const std::string& path);
    UploadDirectory(const UploadDirectory&) = delete;
    UploadDirectory& operator=(const UploadDirectory&) = delete;
    ~UploadDirectory();

    // An empty body to receive into.
    StagedBody stage() const;

    // `name` is one path component (the caller has checked it). Without a
    // range: the body replaces the file atomically (temporary file, fsync,
    // rename).
    UploadResult replace(const std::string& name, StagedBody& body, const UploadLimits& limits) const;
    // With a range starting at `start`: the body is written there, start at
    // most the current end. When that would take the file past max_size the
    // file is rotated and the body starts the new file.
    UploadResult write_at(const std::string& name, std::uint64_t start, StagedBody& body,
                          const UploadLimits& limits) const;

    // Removes the temporaries of uploads that ended without cleaning up (a
    // child killed mid-body, here or on another node sharing the
    // directory): those not written to for `idle_seconds` whose lock no
    // process holds. An upload holds its temporary's lock until it is done,
    // so one in flight is never removed, however quiet. Returns how many
    // were removed.
    unsigned sweep_stale_temporaries(long idle_seconds) const noexcept;

    // Mode of new files, before the process umask.
    static constexpr unsigned kFileMode = 0640;
    // The lock file each upload directory holds (one byte-range lock a name).
    static constexpr const char* kLockFile = ".polyprov.lock";

private:
    class NameLock;
    UploadResult install(const std::string& name, StagedBody& body, UploadStatus status) const;
    UploadResult rotate_then_install(const std::string& name, StagedBody& body, const UploadLimits& limits) const;
    int fd_;
    std::string path_;
};

}  // namespace polyprov
