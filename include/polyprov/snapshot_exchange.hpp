// How the watcher hands its snapshots to the serving processes so that a
// machine holds one copy of each, and no code running as the server's User
// can change one under them.
//
// The watcher puts a snapshot in a sealed memfd: once sealed, nobody can
// write, grow or shrink it, whoever holds it. Serving processes ask for it
// over a datagram socket made before any fork (so only processes forked
// from the server hold its other end; it is closed on exec): each question
// carries one end of a fresh socket pair, and the answer comes back on it
// with the memfd's descriptor. Every process maps the same pages read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace polyprov {

// A snapshot mapped read-only; unmapped when the last holder lets go.
class MappedSnapshot {
public:
    MappedSnapshot(const void* data, std::size_t size) noexcept : data_(data), size_(size) {}
    MappedSnapshot(const MappedSnapshot&) = delete;
    MappedSnapshot& operator=(const MappedSnapshot&) = delete;
    ~MappedSnapshot();
    std::string_view bytes() const noexcept { return {static_cast<const char*>(data_), size_}; }

private:
    const void* data_;
    std::size_t size_;
};

class SnapshotExchange {
public:
    // Throws Error when the socket pair cannot be made.
    SnapshotExchange();
    SnapshotExchange(const SnapshotExchange&) = delete;
    SnapshotExchange& operator=(const SnapshotExchange&) = delete;
    ~SnapshotExchange();

    // The watcher's side: a sealed memfd holding `bytes`, offered as
    // snapshot `generation` of file `file` in place of the one before.
    // Throws Error (out of memory, no memfd).
    void offer(std::uint32_t file, std::uint64_t generation, std::string_view bytes);

    // The watcher's side: answers questions on a thread of its own until
    // the process ends. Call once, in the watcher process only (httpd's
    // parent must stay single-threaded).
    void answer_in_background();

    // The serving side: snapshot `generation` of `file`, mapped. Null when
    // the watcher no longer offers that generation (a newer one is out);
    // throws Error when no answer comes or it is not a sealed snapshot.
    std::shared_ptr<const MappedSnapshot> fetch(std::uint32_t file, std::uint64_t generation) const;

    // What fetch() does with the descriptor it is handed (and closes):
    // maps it if it is sealed against every change; throws Error otherwise.
    static std::shared_ptr<const MappedSnapshot> map_sealed(int fd);

private:
    void answer_forever();
    void answer(int reply, std::uint32_t file, std::uint64_t generation);

    int questions_ = -1;   // serving processes send here
    int answers_ = -1;     // the watcher reads here

    struct Offer {
        std::uint64_t generation = 0;
        int fd = -1;
    };
    mutable std::mutex mutex_;
    std::map<std::uint32_t, Offer> offers_;   // by file; the watcher's (and a test's) own
    std::thread answering_;
};

}  // namespace polyprov
