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
//
// The watcher also hands each snapshot to httpd's parent, which collects it
// when it looks after its children: a watcher that dies and is forked anew
// inherits the version in force and goes on offering it, whatever the file
// says meanwhile.
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
    // snapshot `generation` of file `file`. The one before stays offered a
    // few seconds, for a process that read its number a moment ago; older
    // ones are let go. Throws Error (out of memory, no memfd).
    void offer(std::uint32_t file, std::uint64_t generation, std::string_view bytes);

    // The watcher's side, at each look: lets go of the previous versions
    // once nobody should still be asking for them.
    void retire_previous();

    // httpd's parent (single-threaded, never blocks here): takes the
    // snapshots the watcher handed it since, the newest of each file, so
    // that a watcher forked anew inherits them.
    void collect();

    // httpd's parent, after collect(): snapshot `generation` of `file`
    // mapped, if it is the one it kept; null otherwise.
    std::shared_ptr<const MappedSnapshot> kept(std::uint32_t file, std::uint64_t generation) const;

    // The watcher's side: answers questions on a thread of its own until
    // the process ends. Call once, in the watcher process only (httpd's
    // parent must stay single-threaded).
    void answer_in_background();

    // The serving side: snapshot `generation` of `file`, mapped. Null when
    // the watcher no longer offers that generation (a newer one is out);
    // throws Error when no answer comes within 2 s in all, or it is not a
    // sealed snapshot.
    std::shared_ptr<const MappedSnapshot> fetch(std::uint32_t file, std::uint64_t generation) const;

    // What fetch() does with the descriptor it is handed (and closes):
    // maps it if it is sealed against every change; throws Error otherwise.
    static std::shared_ptr<const MappedSnapshot> map_sealed(int fd);

private:
    void answer_forever();
    void answer(int reply, std::uint32_t file, std::uint64_t generation);

    int questions_ = -1;   // serving processes send here
    int answers_ = -1;     // the watcher reads here
    int to_parent_ = -1;   // the watcher hands its snapshots to httpd's parent here
    int from_watcher_ = -1;

    struct Offer {
        std::uint64_t generation = 0;
        int fd = -1;
        std::int64_t superseded_at = 0;   // steady-clock ticks; 0: the newest
    };
    mutable std::mutex mutex_;
    // By file, then generation: the newest, and the one before while it may
    // still be asked for.
    std::map<std::uint32_t, std::map<std::uint64_t, Offer>> offers_;
    std::thread answering_;
};

}  // namespace polyprov
