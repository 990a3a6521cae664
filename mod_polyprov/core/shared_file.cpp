#include <polyprov/shared_file.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <array>
#include <chrono>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <polyprov/error.hpp>

namespace polyprov {
namespace {

// How long a request waits for another thread taking a new version, and
// how long after a failed attempt no thread tries that version again: a
// watcher that does not answer costs requests a bounded wait, then none.
constexpr std::chrono::milliseconds kReloadWait{2500};
constexpr std::chrono::seconds kRetryAfter{1};

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
    text.reserve(static_cast<std::size_t>(st.st_size));   // a large list is not copied as it grows
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

SharedFileBase::SharedFileBase(std::string name, std::shared_ptr<const void> initial, std::string_view initial_snapshot)
    : path_(std::move(name)), follows_file_(false) {
    if (!initial) return;
    store_digest(own_slot_, 0, digest_of(initial_snapshot));
    std::atomic_store(&value_, std::move(initial));
}

void SharedFileBase::load_initial() {
    const auto stamp = stat_file(path_);
    if (!stamp) throw Error(path_ + ": cannot be read: " + errno_text(errno));
    std::atomic_store(&value_, parse(read_file(path_)));
    published_stamp_ = stamp;
}

void SharedFileBase::attach(PublishedSlot* shared, SnapshotExchange* exchange, std::uint32_t index) {
    const std::uint64_t generation = published_->generation.load();
    store_digest(*shared, generation, load_digest(*published_, generation));
    shared->generation.store(generation);
    published_ = shared;
    exchange_ = exchange;
    index_ = index;
}

void SharedFileBase::release_outdated(bool always) noexcept {
    if (!value_) return;
    if (!always && published_->generation.load(std::memory_order_acquire) == loaded_.load(std::memory_order_acquire))
        return;
    std::atomic_store(&value_, std::shared_ptr<const void>());
    loaded_.store(0, std::memory_order_release);   // whoever needs it takes the published one
}

SnapshotExchange& SharedFileBase::exchange() {
    if (exchange_) return *exchange_;
    std::call_once(own_exchange_made_, [this] { own_exchange_ = std::make_unique<SnapshotExchange>(); });
    return *own_exchange_;
}

void SharedFileBase::publish_next(std::uint64_t next, std::string_view snapshot) {
    store_digest(*published_, next, digest_of(snapshot));
    exchange().offer(index_, next, snapshot);
    published_->generation.store(next, std::memory_order_release);
}

WatchEvent SharedFileBase::publish_value(std::shared_ptr<const void> value) {
    exchange().retire_previous();
    WatchEvent event;
    event.generation = published_->generation.load(std::memory_order_acquire);
    const std::string_view snapshot = snapshot_of(value.get(), std::string_view());
    // Generation 0 of a list that started from nothing has no digest (all
    // zeros), which no snapshot has.
    if (digest_of(snapshot) == load_digest(*published_, event.generation)) return event;
    try {
        publish_next(event.generation + 1, snapshot);
    } catch (const std::exception& e) {
        throw Error(path_ + ": cannot hand the new version to every process: " + e.what());
    }
    event.kind = WatchEvent::Kind::published;
    event.generation += 1;
    event.message = describe(value.get());
    return event;
}

std::shared_ptr<const void> SharedFileBase::version_in_force() {
    const std::uint64_t generation = published_->generation.load(std::memory_order_acquire);
    if (generation == loaded_.load(std::memory_order_acquire))
        if (auto value = std::atomic_load(&value_)) return value;
    if (!exchange_) return nullptr;
    try {
        exchange_->collect();
        auto snapshot = exchange_->kept(index_, generation);
        if (!snapshot || digest_of(snapshot->bytes()) != load_digest(*published_, generation)) return nullptr;
        return from_snapshot(std::move(snapshot));
    } catch (const std::exception&) {
        return nullptr;   // a restart then starts this list from nothing, as at first start
    }
}

WatchEvent SharedFileBase::watch() {
    if (!follows_file_) return WatchEvent{};
    exchange().retire_previous();
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
    try {
        publish_next(next, snapshot_of(value.get(), text));
    } catch (const std::exception& e) {
        refused_ = stamp;  // said once; a later change tries again
        pending_.reset();
        event.kind = WatchEvent::Kind::unreadable;
        event.message = path_ + ": cannot hand the new version to every process: " + e.what();
        return event;
    }
    published_stamp_ = stamp;
    pending_.reset();
    refused_.reset();
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
    // A thread that cannot have the lock soon fails closed rather than
    // queue behind a watcher that does not answer. (Polled: a timed mutex
    // waits in pthread_mutex_clocklock, which ThreadSanitizer cannot follow,
    // and a reload is rare.)
    std::unique_lock<std::mutex> lock(reload_mutex_, std::try_to_lock);
    for (const auto until = std::chrono::steady_clock::now() + kReloadWait; !lock.owns_lock();) {
        if (std::chrono::steady_clock::now() >= until) return nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        lock.try_lock();
    }
    const std::int64_t now_ticks = std::chrono::steady_clock::now().time_since_epoch().count();
    if (generation == failed_generation_ && now_ticks < retry_after_) return nullptr;   // failed a moment ago
    const auto failed = [&](const std::string& why) -> std::shared_ptr<const void> {
        retry_after_ = std::chrono::steady_clock::now().time_since_epoch().count() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(kRetryAfter).count();
        if (failed_generation_ != generation && error)
            *error = why + " (generation " + std::to_string(generation) + " of " + path_ + ")";
        failed_generation_ = generation;
        return nullptr;
    };
    // Another thread may have loaded it (or a newer one) meanwhile.
    for (int attempt = 0; attempt < 4; ++attempt) {
        // Never back: a thread that waited here while another loaded a
        // newer generation takes that one (callers remember answers by
        // generation, SharedFileBase::serving).
        if (generation <= loaded_.load(std::memory_order_acquire)) return std::atomic_load(&value_);
        try {
            const Digest expected = load_digest(*published_, generation);
            auto snapshot = exchange().fetch(index_, generation);
            const std::uint64_t now = published_->generation.load(std::memory_order_acquire);
            // The digest buffer of this number is rewritten only for the
            // number after next: if that came meanwhile, look again.
            if (now >= generation + 2 || (!snapshot && now != generation)) {
                generation = now;
                continue;
            }
            if (!snapshot)
                throw Error(path_ + ": the file watcher no longer offers this version (it restarted); "
                            "it publishes the file again within seconds");
            if (digest_of(snapshot->bytes()) != expected)
                throw Error(path_ + ": the snapshot handed over is not the version the watcher published (its "
                            "SHA-256 differs)");
            auto value = from_snapshot(std::move(snapshot));
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
            return failed(e.what());
        }
    }
    return failed(path_ + ": the published version kept changing while it was being taken");
}

}  // namespace polyprov
