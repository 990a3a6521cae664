#include <polyprov/snapshot_exchange.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <polyprov/error.hpp>

namespace polyprov {
namespace {

constexpr std::uint32_t kStop = UINT32_MAX;   // a question that ends the answering thread
constexpr std::chrono::milliseconds kAnswerTimeout{2000};
// How long a superseded snapshot stays offered: a process that read the old
// number a moment before takes it, then sees the new number and asks again.
constexpr std::chrono::seconds kPreviousKept{5};
constexpr unsigned kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U   // Linux 6.3; kernels with vm.memfd_noexec=2 require it
#endif

std::int64_t steady_now() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

struct Question {
    std::uint32_t file;
    std::uint32_t unused;
    std::uint64_t generation;
};
struct Answer {
    std::uint32_t offered;   // 1: the descriptor comes with it
    std::uint32_t unused;
    std::uint64_t generation;
};

std::string errno_text() { return std::strerror(errno); }

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// One message with `payload` and, when fd >= 0, that descriptor.
bool send_with_fd(int socket, const void* payload, std::size_t size, int fd, int flags) {
    iovec iov{const_cast<void*>(payload), size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do n = ::sendmsg(socket, &msg, MSG_NOSIGNAL | flags);
    while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(size);
}

// One message of exactly `size` bytes; the descriptor it carried in *fd
// (-1 when none). Descriptors beyond the first are closed. 1: received;
// 0: a malformed message (dropped); -1: nothing (errno says why).
int receive_with_fd(int socket, void* payload, std::size_t size, int* fd, int flags = 0) {
    iovec iov{payload, size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | flags);
    while (n < 0 && errno == EINTR);
    *fd = -1;
    if (n < 0) return -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int got;
            std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (*fd < 0) *fd = got;
            else ::close(got);
        }
    }
    if (n == static_cast<ssize_t>(size) && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) return 1;
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
    return 0;
}

// Until `deadline` (steady clock) at most, signals or not.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
        if (n < 0 && errno == EINTR) continue;
        return n == 1 && (p.revents & events);
    }
}

}  // namespace

MappedSnapshot::~MappedSnapshot() {
    if (data_) ::munmap(const_cast<void*>(data_), size_);
}

SnapshotExchange::SnapshotExchange() {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0)
        throw Error("cannot make the socket the watcher answers on: " + errno_text());
    questions_ = pair[0];
    answers_ = pair[1];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) {
        const std::string why = errno_text();
        ::close(questions_);
        ::close(answers_);
        throw Error("cannot make the socket the watcher hands snapshots to httpd's parent on: " + why);
    }
    to_parent_ = pair[0];
    from_watcher_ = pair[1];
}

SnapshotExchange::~SnapshotExchange() {
    if (answering_.joinable()) {
        const Question stop{kStop, 0, 0};
        send_with_fd(questions_, &stop, sizeof stop, -1, 0);
        answering_.join();
    }
    for (const auto& [file, generations] : offers_)
        for (const auto& [generation, offer] : generations) ::close(offer.fd);
    for (int fd : {questions_, answers_, to_parent_, from_watcher_}) ::close(fd);
}

void SnapshotExchange::offer(std::uint32_t file, std::uint64_t generation, std::string_view bytes) {
    Fd memfd{::memfd_create("polyprov-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL)};
    if (memfd.fd < 0 && errno == EINVAL)   // a kernel before 6.3
        memfd.fd = ::memfd_create("polyprov-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd.fd < 0) throw Error("cannot make a memfd for the snapshot: " + errno_text());
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::write(memfd.fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error("cannot write the snapshot: " + errno_text());
        done += static_cast<std::size_t>(n);
    }
    if (::fcntl(memfd.fd, F_ADD_SEALS, kSeals) != 0) throw Error("cannot seal the snapshot: " + errno_text());
    // httpd's parent keeps the newest for a watcher forked after this one
    // (best effort: if it is lost, the next watcher publishes the file again).
    const Question kept{file, 0, generation};
    send_with_fd(to_parent_, &kept, sizeof kept, memfd.fd, MSG_DONTWAIT);
    std::lock_guard<std::mutex> lock(mutex_);
    auto& generations = offers_[file];
    for (auto it = generations.begin(); it != generations.end();) {
        if (it->second.superseded_at) {   // two behind: who mapped it keeps it
            ::close(it->second.fd);
            it = generations.erase(it);
        } else {
            it->second.superseded_at = steady_now();
            ++it;
        }
    }
    generations[generation] = Offer{generation, memfd.fd, 0};
    memfd.fd = -1;
}

void SnapshotExchange::retire_previous() {
    const std::int64_t before = steady_now() - std::chrono::duration_cast<std::chrono::steady_clock::duration>(kPreviousKept).count();
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [file, generations] : offers_)
        for (auto it = generations.begin(); it != generations.end();) {
            if (it->second.superseded_at && it->second.superseded_at < before) {
                ::close(it->second.fd);
                it = generations.erase(it);
            } else {
                ++it;
            }
        }
}

void SnapshotExchange::collect() {
    for (;;) {
        Question kept{};
        Fd fd;
        const int got = receive_with_fd(from_watcher_, &kept, sizeof kept, &fd.fd, MSG_DONTWAIT);
        if (got < 0) return;   // nothing more (EAGAIN) or no socket
        if (got == 0 || fd.fd < 0) continue;
        std::lock_guard<std::mutex> lock(mutex_);
        auto& generations = offers_[kept.file];
        if (!generations.empty() && generations.rbegin()->first >= kept.generation) continue;
        for (const auto& [generation, offer] : generations) ::close(offer.fd);
        generations.clear();
        generations[kept.generation] = Offer{kept.generation, fd.fd, 0};
        fd.fd = -1;
    }
}

std::shared_ptr<const MappedSnapshot> SnapshotExchange::kept(std::uint32_t file, std::uint64_t generation) const {
    int fd = -1;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = offers_.find(file);
        if (found == offers_.end()) return nullptr;
        const auto offer = found->second.find(generation);
        if (offer == found->second.end()) return nullptr;
        fd = ::fcntl(offer->second.fd, F_DUPFD_CLOEXEC, 0);
    }
    if (fd < 0) return nullptr;
    return map_sealed(fd);
}

void SnapshotExchange::answer_in_background() {
    // Signals stay with the watcher's main thread, which sleeps waiting for them.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    answering_ = std::thread([this] { answer_forever(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void SnapshotExchange::answer_forever() {
    for (;;) {
        Question q{};
        Fd reply;
        const int got = receive_with_fd(answers_, &q, sizeof q, &reply.fd);
        // The socket itself failing leaves every process without new
        // versions: end the watcher, and httpd's parent forks another.
        if (got < 0) ::_exit(1);
        if (got == 0) continue;   // a malformed question: nothing to answer
        if (q.file == kStop && reply.fd < 0) return;
        if (reply.fd >= 0) answer(reply.fd, q.file, q.generation);
    }
}

void SnapshotExchange::answer(int reply, std::uint32_t file, std::uint64_t generation) {
    int fd = -1;
    Answer a{0, 0, 0};
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = offers_.find(file);
        if (found != offers_.end()) {
            const auto offer = found->second.find(generation);
            if (offer != found->second.end()) {
                a.offered = 1;
                a.generation = generation;
                fd = offer->second.fd;
            }
        }
        // Sent under the lock: offer() may not close it meanwhile. The
        // reply socket is the asker's own and empty, so this never blocks.
        send_with_fd(reply, &a, sizeof a, fd, MSG_DONTWAIT);
    }
}

std::shared_ptr<const MappedSnapshot> SnapshotExchange::map_sealed(int fd) {
    Fd owned{fd};
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (static_cast<unsigned>(seals) & kSeals) != kSeals)
        throw Error("the watcher's answer is not a sealed snapshot");
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw Error("cannot look at the snapshot: " + errno_text());
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size == 0) return std::make_shared<const MappedSnapshot>(nullptr, 0);
    void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) throw Error("cannot map the snapshot: " + errno_text());
    return std::make_shared<const MappedSnapshot>(data, size);
}

std::shared_ptr<const MappedSnapshot> SnapshotExchange::fetch(std::uint32_t file, std::uint64_t generation) const {
    {
        // The process that offers it (the watcher itself, a test).
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = offers_.find(file);
        if (found != offers_.end()) {
            const auto offer = found->second.find(generation);
            if (offer != found->second.end()) {
                const int fd = ::fcntl(offer->second.fd, F_DUPFD_CLOEXEC, 0);
                if (fd < 0) throw Error("cannot copy the snapshot's descriptor: " + errno_text());
                return map_sealed(fd);
            }
        }
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        throw Error("cannot make a socket to ask the watcher: " + errno_text());
    Fd mine{pair[0]}, theirs{pair[1]};
    const Question q{file, 0, generation};
    const auto deadline = std::chrono::steady_clock::now() + kAnswerTimeout;
    for (;;) {
        if (send_with_fd(questions_, &q, sizeof q, theirs.fd, MSG_DONTWAIT)) break;
        if (errno != EAGAIN) throw Error("cannot ask the file watcher for the snapshot: " + errno_text());
        if (!wait_for(questions_, POLLOUT, deadline))
            throw Error("the file watcher did not take the question within 2 s");
    }
    ::close(theirs.fd);
    theirs.fd = -1;
    if (!wait_for(mine.fd, POLLIN, deadline)) throw Error("the file watcher did not hand over the snapshot within 2 s");
    Answer a{};
    Fd fd;
    if (receive_with_fd(mine.fd, &a, sizeof a, &fd.fd) != 1) throw Error("the file watcher's answer is malformed");
    if (!a.offered) return nullptr;
    if (a.generation != generation || fd.fd < 0) throw Error("the file watcher's answer is malformed");
    const int taken = fd.fd;
    fd.fd = -1;
    return map_sealed(taken);
}

}  // namespace polyprov
