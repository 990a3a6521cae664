// A configuration file that every process of a server follows together
// (the ACL, the revocation history), changed on disk without a restart.
//
// One process, the watcher, looks at the file. When a new version parses,
// it offers a numbered snapshot (snapshot_exchange.hpp), then publishes the
// number in memory every process shares; a version that does not parse is
// reported once and never published. Every serving process compares the
// published number with the one it holds before it answers, and takes that
// snapshot when they differ. So all processes answer from one version, the
// newest that parsed, whether or not they served requests while the file
// changed, and no serving process ever looks at the file itself.
//
// A snapshot is the file's text, parsed again by each process, or, for a
// value that is a compiled table read in place (the ACL), the table itself:
// then every process reads the one copy the watcher made.
//
// A list need not come from a file: the result of a query (PolyProvACLQuery)
// is handed to the watcher's side with publish(), and reaches every process
// the same way. Such a list has nothing at all until its first publish(),
// unless it starts from the version in force before a restart.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <polyprov/error.hpp>
#include <polyprov/snapshot_exchange.hpp>

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
// memory is not reachable from code the server runs as its User, such as
// a CGI; the snapshot is handed over a socket). Two digest buffers,
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
    // lives, and the exchange that hands snapshots over, where this file
    // is number `index`. Unattached (a test, a configtest), the file keeps
    // both to itself.
    void attach(PublishedSlot* shared, SnapshotExchange* exchange, std::uint32_t index);

    // For a process that serves nothing itself (httpd's parent, whose copy
    // only children it forks inherit; the watcher): drops the value it
    // holds once a newer version is published, or at once with `always`.
    // A large list then stays one copy for the machine after an edit.
    // Not to be called while other threads read the value.
    void release_outdated(bool always) noexcept;

    // The watcher's side: one look at the file. A change is acted on once
    // the file has looked the same for two looks in a row (an editor that
    // writes in place is not caught half way). Nothing for a list that
    // follows no file.
    WatchEvent watch();

    // httpd's parent, as a configuration goes: the version in force, read
    // back from what the watcher handed it (checked against the published
    // digest); null when there is none. What a list that follows no file
    // starts from after a graceful restart, rather than from nothing.
    std::shared_ptr<const void> version_in_force();

protected:
    SharedFileBase(std::string path) : path_(std::move(path)) {}
    // A list that follows no file: `name` is what messages call it; it
    // holds `initial` (may be null) as generation 0.
    SharedFileBase(std::string name, std::shared_ptr<const void> initial, std::string_view initial_snapshot);

    // The watcher's side for a list that follows no file: `value` becomes
    // the next version, unless its snapshot is the version in force.
    // Throws Error when it cannot be handed over.
    WatchEvent publish_value(std::shared_ptr<const void> value);

    // Reads and parses the file now (configuration time); throws Error.
    void load_initial();

    // Parses the file's bytes; throws Error "origin:line: why".
    virtual std::shared_ptr<const void> parse(std::string_view text) const = 0;
    // What the watcher hands over for `value`, parsed from `text`.
    virtual std::string_view snapshot_of(const void* value, std::string_view text) const = 0;
    // The value of a snapshot, kept alive by `owner`; throws Error.
    virtual std::shared_ptr<const void> from_snapshot(std::shared_ptr<const MappedSnapshot> snapshot) const = 0;
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
    SnapshotExchange& exchange();
    // The digest, then the offer, then the number: a process that reads the
    // number finds both (and the version before stays offered).
    void publish_next(std::uint64_t next, std::string_view snapshot);
    std::shared_ptr<const void> reload(std::uint64_t generation, std::optional<std::string>* error);

    const std::string path_;
    const bool follows_file_ = true;
    PublishedSlot own_slot_;
    PublishedSlot* published_ = &own_slot_;
    SnapshotExchange* exchange_ = nullptr;
    std::uint32_t index_ = 0;
    std::unique_ptr<SnapshotExchange> own_exchange_;
    std::once_flag own_exchange_made_;

    // The serving side.
    std::shared_ptr<const void> value_;          // std::atomic_load/store
    std::atomic<std::uint64_t> loaded_{0};
    std::mutex reload_mutex_;
    std::uint64_t failed_generation_ = 0;        // reported already; under reload_mutex_
    std::int64_t retry_after_ = 0;               // steady ticks: no new attempt before; under reload_mutex_

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
    // For a value that is a table read in place: its bytes, and the value
    // read back from them (throws Error).
    struct Table {
        std::string_view (*bytes)(const T& value);
        T (*read)(std::shared_ptr<const void> owner, std::string_view bytes, const std::string& origin);
    };

    // Loads `path` now; throws Error (with file:line) when it is bad, so a
    // bad file fails configtest rather than the first phone.
    SharedFile(std::string path, Parser parser, Describer describer, std::optional<Table> table = std::nullopt)
        : SharedFileBase(std::move(path)), parser_(parser), describer_(describer), table_(table) {
        load_initial();
    }

    // A list that follows no file (a query's result), called `name` in
    // messages; it starts from `initial` (null: nothing, every device is
    // refused as unavailable until the first publish()). Needs `table`.
    SharedFile(std::string name, Describer describer, Table table, std::shared_ptr<const T> initial)
        : SharedFileBase(std::move(name), initial, initial ? table.bytes(*initial) : std::string_view()),
          describer_(describer), table_(table) {}

    // The watcher's side, for such a list: see publish_value().
    WatchEvent publish(std::shared_ptr<const T> value) { return publish_value(std::move(value)); }

    std::shared_ptr<const T> in_force() { return std::static_pointer_cast<const T>(version_in_force()); }

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
        if (!parser_) throw Error(path() + ": follows no file");
        return std::make_shared<const T>(parser_(text, path()));
    }
    std::string describe(const void* value) const override { return describer_(*static_cast<const T*>(value)); }
    std::string_view snapshot_of(const void* value, std::string_view text) const override {
        return table_ ? table_->bytes(*static_cast<const T*>(value)) : text;
    }
    std::shared_ptr<const void> from_snapshot(std::shared_ptr<const MappedSnapshot> snapshot) const override {
        const std::string_view bytes = snapshot->bytes();
        if (table_) return std::make_shared<const T>(table_->read(std::move(snapshot), bytes, path()));
        return parse(bytes);   // the text, read once; the mapping goes with `snapshot`
    }
    Parser parser_ = nullptr;     // null for a list that follows no file
    Describer describer_;
    std::optional<Table> table_;
};

}  // namespace polyprov
