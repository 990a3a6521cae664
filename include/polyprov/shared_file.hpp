// A configuration file that every process of a server follows together
// (the ACL, the revocation history), changed on disk without a restart.
//
// One process, the watcher, looks at the file. When a new version parses,
// it writes an exact copy as a numbered snapshot, then publishes the number
// in memory every process shares; a version that does not parse is
// reported once and never published. Every serving process compares the
// published number with the one it holds before it answers, and reads that
// snapshot when they differ. So all processes answer from one version, the
// newest that parsed, whether or not they served requests while the file
// changed, and no serving process ever looks at the file itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace polyprov {

// What a look at the file found that the operator should hear of, once.
struct WatchEvent {
    enum class Kind { none, published, refused, unreadable };
    Kind kind = Kind::none;
    std::string message;       // "12 devices" for published; "file:line: why" otherwise
    std::uint64_t generation = 0;   // the generation now published
};

// What the watcher publishes for one file, in memory every process shares:
// the number of the newest good version, and the SHA-256 of its snapshot.
// A snapshot whose bytes do not have that digest is never believed (the
// snapshot directory belongs to the server's User, and so may any code
// that runs as that User; the shared memory does not). Two digest buffers,
// by the parity of the number, so that a reader of number n is not
// disturbed by the writing of n + 1.
struct PublishedSlot {
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::uint64_t> digest[2][4] = {};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "must work across processes");

class SharedFileBase {
public:
    using Generation = PublishedSlot;

    SharedFileBase(const SharedFileBase&) = delete;
    SharedFileBase& operator=(const SharedFileBase&) = delete;
    virtual ~SharedFileBase() = default;

    const std::string& path() const noexcept { return path_; }

    // The generation served now, when it is loaded already: false when the
    // next current() would load another. For callers that remember what
    // they derived from a value, so they can tell it still holds.
    bool serving(std::uint64_t* generation) const noexcept {
        const std::uint64_t published = published_->generation.load(std::memory_order_acquire);
        *generation = published;
        return published == loaded_.load(std::memory_order_acquire);
    }

    // Before any process forks from this one: where the published number
    // lives and the path prefix of the snapshots (a directory the watcher
    // may write and the serving processes read).
    void attach(PublishedSlot* shared, std::string snapshot_prefix);

    // The watcher's side: one look at the file. A change is acted on once
    // the file has looked the same for two looks in a row (an editor that
    // writes in place is not caught half way).
    WatchEvent watch();

protected:
    SharedFileBase(std::string path) : path_(std::move(path)) {}

    // Reads and parses the file now (configuration time); throws Error.
    void load_initial();

    // Parses the file's bytes; throws Error "origin:line: why".
    virtual std::shared_ptr<const void> parse(std::string_view text) const = 0;
    // A short description for the log ("12 devices").
    virtual std::string describe(const void* value) const = 0;

    // The serving side: the value of the published generation. Null when
    // that generation cannot be read (the caller must fail closed);
    // `error` is then set the first time for that generation.
    std::shared_ptr<const void> current_value(std::optional<std::string>* error);

private:
    struct Stamp {
        std::uint64_t dev = 0, ino = 0, size = 0;
        std::int64_t mtime_ns = -1, ctime_ns = -1;
        bool operator==(const Stamp& o) const noexcept {
            return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
        }
    };
    static std::optional<Stamp> stat_file(const std::string& path);
    std::string snapshot_path(std::uint64_t generation) const;
    std::shared_ptr<const void> reload(std::uint64_t generation, std::optional<std::string>* error);

    const std::string path_;
    PublishedSlot own_slot_;
    PublishedSlot* published_ = &own_slot_;
    std::string prefix_;

    // The serving side.
    std::shared_ptr<const void> value_;          // std::atomic_load/store
    std::atomic<std::uint64_t> loaded_{0};
    std::mutex reload_mutex_;
    std::uint64_t failed_generation_ = 0;        // reported already; under reload_mutex_

    // The watcher's side.
    std::optional<Stamp> published_stamp_;
    std::optional<Stamp> pending_;               // seen once, waiting to be seen unchanged
    std::optional<Stamp> refused_;               // a version reported as bad
    bool unreadable_reported_ = false;
};

template <typename T>
class SharedFile final : public SharedFileBase {
public:
    using Parser = T (*)(std::string_view text, const std::string& origin);
    using Describer = std::string (*)(const T& value);

    // Loads `path` now; throws Error (with file:line) when it is bad, so a
    // bad file fails configtest rather than the first phone.
    SharedFile(std::string path, Parser parser, Describer describer)
        : SharedFileBase(std::move(path)), parser_(parser), describer_(describer) {
        load_initial();
    }

    struct View {
        std::shared_ptr<const T> value;          // null: fail closed
        std::optional<std::string> error;        // why not, the first time
    };
    View current() {
        View view;
        view.value = std::static_pointer_cast<const T>(current_value(&view.error));
        return view;
    }

private:
    std::shared_ptr<const void> parse(std::string_view text) const override {
        return std::make_shared<const T>(parser_(text, path()));
    }
    std::string describe(const void* value) const override { return describer_(*static_cast<const T*>(value)); }
    Parser parser_;
    Describer describer_;
};

}  // namespace polyprov
