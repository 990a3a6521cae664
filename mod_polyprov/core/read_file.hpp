// Whole small files (lists, CRLs) into memory. Internal to the core.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <polyprov/error.hpp>

namespace polyprov::detail {

// Throws Error "PATH: cannot be read: REASON".
inline std::string read_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw Error(path + ": cannot be read: " + std::strerror(errno));
    std::string out;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    // Reading a directory opens fine and fails here with EISDIR.
    if (failed) throw Error(path + ": cannot be read: " + std::strerror(err));
    return out;
}

}  // namespace polyprov::detail
