// Replaces a set of files in one directory so that a failure leaves the
// old set in place, and Apache, reading at a graceful restart, never finds
// a half-written file.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace polyprov::cli {

struct FileContent {
    std::string name;  // within the directory
    std::string content;
};

// Creates `dir` (one level, mode 0755) when missing, then works on the
// directory it opened, not on the path again. Takes an exclusive lock on
// the directory so two runs cannot interleave. Refuses targets that exist
// and are not regular files (a symlink, a directory). Writes each file to a
// temporary name, syncs it, keeps a hard link to each old file, renames the
// new files into place in the given order, syncs the directory, and drops
// the old links. When a rename fails, the files already renamed get their
// old content back. A reader between two renames sees new and old files
// side by side. Throws polyprov::Error naming the path and saying what was
// left: "no file was replaced", or which file holds new content and where
// its old content was kept. Needs hard links and flock on the directory
// (local file systems; not vfat, not NFS).
void write_files_atomically(const std::string& dir, const std::vector<FileContent>& files, mode_t mode);

// The directory of write_files_atomically, created and locked the same way,
// held for as long as the object lives: a caller that reads files there,
// derives new content from them and writes it back (the revocation
// history) does all of that under one lock, so two runs cannot lose each
// other's changes. Lock several in one fixed order.
class LockedDirectory {
public:
    explicit LockedDirectory(std::string dir);  // throws polyprov::Error ("no file was replaced")
    ~LockedDirectory();
    LockedDirectory(const LockedDirectory&) = delete;
    LockedDirectory& operator=(const LockedDirectory&) = delete;

    // As write_files_atomically, under this lock.
    void write_files(const std::vector<FileContent>& files, mode_t mode) const;

private:
    std::string dir_;
    int fd_;
};

}  // namespace polyprov::cli
