// The watcher's snapshots handed to serving processes as sealed memfds.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <polyprov/error.hpp>
#include <polyprov/snapshot_exchange.hpp>

using namespace polyprov;

namespace {

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// Asked from another process, over the socket made before the fork.
TEST(SnapshotExchange, AnotherProcessGetsTheOfferedSnapshotAndOnlyThatGeneration) {
    SnapshotExchange exchange;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int status = 0;
        try {
            // Wait until the watcher has offered all three.
            std::shared_ptr<const MappedSnapshot> three;
            for (int i = 0; i < 200 && !three; ++i) {
                three = exchange.fetch(3, 3);
                if (!three) ::usleep(10000);
            }
            if (!three || three->bytes() != "version three") status |= 1;
            const auto two = exchange.fetch(3, 2);   // the one before: still offered a moment
            if (!two || two->bytes() != "version two") status |= 1;
            if (exchange.fetch(3, 1) != nullptr) status |= 2;   // two behind: let go
            if (exchange.fetch(4, 3) != nullptr) status |= 4;   // another file: nothing offered
        } catch (const std::exception&) {
            status |= 8;
        }
        _exit(status);
    }
    exchange.offer(3, 1, "version one");
    exchange.offer(3, 2, "version two");
    exchange.offer(3, 3, "version three");
    exchange.answer_in_background();
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong bytes, 2: an old one handed out, 4: other file, 8: error";
}

// A watcher that dies takes its offers with it; httpd's parent collected
// them, and a watcher forked from it after offers them still.
TEST(SnapshotExchange, TheParentKeepsWhatADeadWatcherOffered) {
    SnapshotExchange exchange;
    const pid_t watcher = ::fork();
    ASSERT_GE(watcher, 0);
    if (watcher == 0) {
        exchange.offer(0, 5, "five");
        exchange.offer(0, 6, "six");
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(watcher, &status, 0), watcher);
    exchange.collect();
    // Held here now (a watcher forked from this process inherits it).
    const auto six = exchange.fetch(0, 6);
    ASSERT_TRUE(six);
    EXPECT_EQ(six->bytes(), "six");
}

TEST(SnapshotExchange, AnEmptySnapshotIsHandedOverToo) {
    SnapshotExchange exchange;
    exchange.offer(0, 1, "");
    const auto snapshot = exchange.fetch(0, 1);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->bytes(), "");
}

TEST(SnapshotExchange, NoAnswerIsAnErrorNotAWaitForever) {
    SnapshotExchange exchange;   // nobody answers
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(error_of([&] { exchange.fetch(0, 1); }), "the file watcher did not hand over the snapshot within 2 s");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// A descriptor that anyone holding it could still change is not mapped.
TEST(SnapshotExchange, OnlyASealedSnapshotIsMapped) {
    const int unsealed = ::memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ASSERT_GE(unsealed, 0);
    ASSERT_EQ(::write(unsealed, "abc", 3), 3);
    EXPECT_EQ(error_of([&] { SnapshotExchange::map_sealed(unsealed); }), "the watcher's answer is not a sealed snapshot");
    const int partly = ::memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ASSERT_EQ(::write(partly, "abc", 3), 3);
    ASSERT_EQ(::fcntl(partly, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);   // still writable
    EXPECT_EQ(error_of([&] { SnapshotExchange::map_sealed(partly); }), "the watcher's answer is not a sealed snapshot");
    const int file = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(error_of([&] { SnapshotExchange::map_sealed(file); }), "the watcher's answer is not a sealed snapshot");
    // What offer() makes cannot be written, even by the one who made it.
    SnapshotExchange exchange;
    exchange.offer(0, 1, "sealed");
    const auto snapshot = exchange.fetch(0, 1);
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->bytes(), "sealed");
}
