// Replaces files so that a reader (Apache at a graceful restart) finds the
// old set or the new one, never a half-written file.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace polyprov::cli {

struct FileContent {
    std::string name;  // within the directory
    std::string content;
};

// Creates `dir` (one level, mode 0755) when missing. Refuses targets that
// exist and are not regular files (a symlink, a directory). Writes each to a
// temporary name in `dir`, syncs it, and only when all are written renames
// them into place and syncs the directory. On failure no file is replaced
// and the temporaries are removed. Throws polyprov::Error naming the path.
void write_files_atomically(const std::string& dir, const std::vector<FileContent>& files, mode_t mode);

}  // namespace polyprov::cli
