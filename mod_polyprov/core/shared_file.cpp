#include <polyprov/shared_file.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <array>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <polyprov/error.hpp>

namespace polyprov {
namespace {

// Larger than any list an operator keeps (a million phones is ~40 MB).
constexpr std::uint64_t kMaxFileSize = 512ull << 20;

std::string errno_text(int err) { return std::strerror(err); }

// The whole file; throws Error naming `path`.
std::string read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot be read: " + errno_text(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw Error(path + ": cannot be read: " + errno_text(errno));
    if (!S_ISREG(st.st_mode)) throw Error(path + ": is not a regular file");
    if (static_cast<std::uint64_t>(st.st_size) > kMaxFileSize) throw Error(path + ": is larger than 512 MiB");
    std::string text;
    char buffer[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(path + ": read error: " + errno_text(errno));
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > kMaxFileSize) throw Error(path + ": is larger than 512 MiB");
    }
    return text;
}

// Writes `text` as `path` through a temporary name and a rename, so a
// reader sees the whole snapshot or none. False with errno set.
bool write_whole(const std::string& path, std::string_view text) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            errno = err;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        errno = err;
        return false;
    }
    return true;
}

using Digest = std::array<std::uint64_t, 4>;

Digest digest_of(std::string_view text) {
    unsigned char md[32];
    unsigned int length = 0;
    if (EVP_Digest(text.data(), text.size(), md, &length, EVP_sha256(), nullptr) != 1 || length != 32)
        throw Error("cannot compute a SHA-256");
    Digest out{};
    for (std::size_t i = 0; i < 32; ++i) out[i / 8] = (out[i / 8] << 8) | md[i];
    return out;
}

void store_digest(PublishedSlot& slot, std::uint64_t generation, const Digest& d) {
    for (std::size_t i = 0; i < 4; ++i) slot.digest[generation % 2][i].store(d[i], std::memory_order_relaxed);
}

Digest load_digest(const PublishedSlot& slot, std::uint64_t generation) {
    Digest d{};
    for (std::size_t i = 0; i < 4; ++i) d[i] = slot.digest[generation % 2][i].load(std::memory_order_relaxed);
    return d;
}

}  // namespace

std::optional<SharedFileBase::Stamp> SharedFileBase::stat_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    Stamp s;
    s.dev = static_cast<std::uint64_t>(st.st_dev);
    s.ino = static_cast<std::uint64_t>(st.st_ino);
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    // ctime too: `touch -r` or `cp -p` can put mtime back, nothing puts ctime back.
    s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return s;
}

void SharedFileBase::load_initial() {
    const auto stamp = stat_file(path_);
    if (!stamp) throw Error(path_ + ": cannot be read: " + errno_text(errno));
    std::atomic_store(&value_, parse(read_file(path_)));
    published_stamp_ = stamp;
}

void SharedFileBase::attach(PublishedSlot* shared, std::string snapshot_prefix) {
    const std::uint64_t generation = published_->generation.load();
    store_digest(*shared, generation, load_digest(*published_, generation));
    shared->generation.store(generation);
    published_ = shared;
    prefix_ = std::move(snapshot_prefix);
}

std::string SharedFileBase::snapshot_path(std::uint64_t generation) const {
    return (prefix_.empty() ? path_ + ".polyprov-snapshot" : prefix_) + "." + std::to_string(generation);
}

WatchEvent SharedFileBase::watch() {
    WatchEvent event;
    event.generation = published_->generation.load(std::memory_order_acquire);
    const auto stamp = stat_file(path_);
    if (!stamp) {
        const int err = errno;
        pending_.reset();
        if (!unreadable_reported_) {
            unreadable_reported_ = true;
            event.kind = WatchEvent::Kind::unreadable;
            event.message = path_ + ": cannot be read: " + errno_text(err);
        }
        return event;
    }
    unreadable_reported_ = false;
    if (published_stamp_ && *stamp == *published_stamp_) {
        pending_.reset();
        return event;
    }
    if (refused_ && *stamp == *refused_) return event;
    if (!pending_ || !(*pending_ == *stamp)) {
        pending_ = stamp;  // changed since the last look: wait for it to settle
        return event;
    }

    std::string text;
    std::shared_ptr<const void> value;
    try {
        text = read_file(path_);
        const auto after = stat_file(path_);
        if (!after || !(*after == *stamp)) {  // written to while we read: look again
            pending_ = after;
            return event;
        }
        value = parse(text);
    } catch (const std::exception& e) {
        refused_ = stamp;
        pending_.reset();
        event.kind = WatchEvent::Kind::refused;
        event.message = e.what();
        return event;
    }

    const std::uint64_t next = event.generation + 1;
    if (!write_whole(snapshot_path(next), text)) {
        const int err = errno;
        refused_ = stamp;  // said once; a later change tries again
        pending_.reset();
        event.kind = WatchEvent::Kind::unreadable;
        event.message = snapshot_path(next) + ": cannot write the snapshot every process reads: " + errno_text(err);
        return event;
    }
    store_digest(*published_, next, digest_of(text));
    published_->generation.store(next, std::memory_order_release);
    published_stamp_ = stamp;
    pending_.reset();
    refused_.reset();
    // The one before stays for a process that read the old number a moment ago.
    if (next >= 2) ::unlink(snapshot_path(next - 2).c_str());
    event.kind = WatchEvent::Kind::published;
    event.generation = next;
    event.message = describe(value.get());
    return event;
}

std::shared_ptr<const void> SharedFileBase::current_value(std::optional<std::string>* error) {
    const std::uint64_t published = published_->generation.load(std::memory_order_acquire);
    if (published == loaded_.load(std::memory_order_acquire)) return std::atomic_load(&value_);
    return reload(published, error);
}

std::shared_ptr<const void> SharedFileBase::reload(std::uint64_t generation, std::optional<std::string>* error) {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    // Another thread may have loaded it (or a newer one) meanwhile.
    for (int attempt = 0; attempt < 4; ++attempt) {
        // Never back: a thread that waited here while another loaded a
        // newer generation takes that one (callers remember answers by
        // generation, SharedFileBase::serving).
        if (generation <= loaded_.load(std::memory_order_acquire)) return std::atomic_load(&value_);
        try {
            const Digest expected = load_digest(*published_, generation);
            const std::string text = read_file(snapshot_path(generation));
            // The digest buffer of this number is rewritten only for the
            // number after next: if that came meanwhile, look again.
            if (published_->generation.load(std::memory_order_acquire) >= generation + 2) {
                generation = published_->generation.load(std::memory_order_acquire);
                continue;
            }
            if (digest_of(text) != expected)
                throw Error(snapshot_path(generation) + ": is not the version the watcher published (its SHA-256 "
                            "differs)");
            auto value = parse(text);
            std::atomic_store(&value_, std::move(value));
            loaded_.store(generation, std::memory_order_release);
            return std::atomic_load(&value_);
        } catch (const std::exception& e) {
            // Superseded and removed between our look and our read: take the newer.
            const std::uint64_t now = published_->generation.load(std::memory_order_acquire);
            if (now != generation) {
                generation = now;
                continue;
            }
            if (failed_generation_ != generation && error) {
                failed_generation_ = generation;
                *error = std::string(e.what()) + " (generation " + std::to_string(generation) + " of " + path_ + ")";
            }
            return nullptr;
        }
    }
    return nullptr;
}

}  // namespace polyprov
