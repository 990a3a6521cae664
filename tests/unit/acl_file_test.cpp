// The ACL file followed by a watcher and read by serving processes
// (shared_file.hpp), driven here in one process, across threads, and
// across a fork.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <polyprov/acl_file.hpp>
#include <polyprov/error.hpp>

using namespace polyprov;

namespace {

class AclFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "polyprov-acl-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::string cmd = "rm -rf '" + dir_ + "' && mkdir -p '" + dir_ + "'";
        ASSERT_EQ(std::system(cmd.c_str()), 0);
        path_ = dir_ + "/phones.acl";
    }
    void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
    // Through a new file and a rename, as editors and config tools do.
    void replace(const std::string& text) {
        const std::string tmp = path_ + ".tmp";
        std::ofstream(tmp) << text;
        std::rename(tmp.c_str(), path_.c_str());
    }
    // In place, as `>` in a shell does.
    void overwrite(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
    // Looks until the watcher acts (a change must be seen twice).
    WatchEvent settle(AclFile& file) {
        WatchEvent last;
        for (int i = 0; i < 4; ++i) {
            last = file.watch();
            if (last.kind != WatchEvent::Kind::none) return last;
        }
        return last;
    }
    std::string dir_, path_;
};

Mac mac(const char* s) { return *Mac::parse(s); }
bool lists(AclFile& file, const char* m) {
    const auto acl = file.current().value;
    return acl && acl->find(mac(m)) != nullptr;
}

}  // namespace

TEST_F(AclFileTest, BadFileAtStartIsAnErrorWithFileAndLine) {
    replace("0004F2000001\nnonsense\n");
    try {
        open_acl_file(path_);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(path_ + ":2: 'nonsense' is not a MAC address", 0), 0u) << e.what();
    }
    EXPECT_THROW(open_acl_file(dir_ + "/missing.acl"), Error);
}

TEST_F(AclFileTest, AChangeIsPublishedOnceItHasSettled) {
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    EXPECT_EQ(file->watch().kind, WatchEvent::Kind::none) << "unchanged";
    replace("0004F2000001\n0004F2000002 label=new\n");
    EXPECT_EQ(file->watch().kind, WatchEvent::Kind::none) << "seen once: not yet";
    EXPECT_FALSE(lists(*file, "0004F2000002"));
    const WatchEvent e = file->watch();
    ASSERT_EQ(e.kind, WatchEvent::Kind::published);
    EXPECT_EQ(e.message, "2 devices");
    EXPECT_EQ(e.generation, 1u);
    EXPECT_EQ(file->current().value->find(mac("0004F2000002"))->label(), std::string("new"));
    const auto before = file->current().value;
    EXPECT_EQ(file->watch().kind, WatchEvent::Kind::none);
    EXPECT_EQ(file->current().value, before) << "an unchanged file is not read again";
}

TEST_F(AclFileTest, AnInPlaceEditWithTheSameSizeAndTimeIsSeen) {
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    overwrite("0004F2000003\n");   // same size; ctime changes whatever mtime says
    ASSERT_EQ(settle(*file).kind, WatchEvent::Kind::published);
    EXPECT_TRUE(lists(*file, "0004F2000003"));
    EXPECT_FALSE(lists(*file, "0004F2000001"));
}

TEST_F(AclFileTest, ABadVersionIsReportedOnceAndTheNewestGoodOneStays) {
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    replace("0004F2000002\n");
    ASSERT_EQ(settle(*file).kind, WatchEvent::Kind::published);
    replace("0004F2000002\n0004F2000002\n");
    const WatchEvent bad = settle(*file);
    ASSERT_EQ(bad.kind, WatchEvent::Kind::refused);
    EXPECT_EQ(bad.message, path_ + ":2: duplicate MAC 0004F2000002 (first on line 1)");
    EXPECT_EQ(bad.generation, 1u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(file->watch().kind, WatchEvent::Kind::none) << "reported twice";
    EXPECT_TRUE(lists(*file, "0004F2000002")) << "the newest version that parsed, not the first";
    EXPECT_FALSE(lists(*file, "0004F2000001"));

    replace("0004F2000003\n");
    ASSERT_EQ(settle(*file).kind, WatchEvent::Kind::published);
    EXPECT_TRUE(lists(*file, "0004F2000003"));
}

TEST_F(AclFileTest, AMissingFileIsReportedOnceAndItsReturnPublished) {
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    std::remove(path_.c_str());
    const WatchEvent gone = file->watch();
    ASSERT_EQ(gone.kind, WatchEvent::Kind::unreadable);
    EXPECT_NE(gone.message.find("cannot be read"), std::string::npos);
    EXPECT_EQ(file->watch().kind, WatchEvent::Kind::none) << "reported twice";
    EXPECT_TRUE(lists(*file, "0004F2000001"));
    replace("0004F2000004\n");
    ASSERT_EQ(settle(*file).kind, WatchEvent::Kind::published);
    EXPECT_TRUE(lists(*file, "0004F2000004"));
}

TEST_F(AclFileTest, ASnapshotThatCannotBeReadFailsClosedAndSaysSoOnce) {
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    PublishedSlot shared;
    SnapshotExchange exchange;
    exchange.answer_in_background();   // asked over its socket: it offers nothing
    file->attach(&shared, &exchange, 0);
    shared.generation.store(7);   // a number whose snapshot nobody offered
    auto view = file->current();
    EXPECT_EQ(view.value, nullptr);
    ASSERT_TRUE(view.error);
    EXPECT_NE(view.error->find("generation 7"), std::string::npos) << *view.error;
    EXPECT_FALSE(file->current().error) << "said twice";
}

TEST_F(AclFileTest, ASnapshotFromElsewhereIsNotBelieved) {
    // Only processes forked from the server hold the exchange's socket, but
    // a serving process believes nothing that lacks the digest the watcher
    // put in the shared memory, which code the server runs as its User
    // (a CGI) cannot reach.
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    PublishedSlot shared;
    SnapshotExchange watchers;
    file->attach(&shared, &watchers, 0);
    replace("0004F2000002\n");
    ASSERT_EQ(settle(*file).kind, WatchEvent::Kind::published);
    // A reader that sees the watcher's number and digest but is handed
    // another table.
    auto reader = open_acl_file(path_);
    PublishedSlot reader_slot;
    SnapshotExchange elsewhere;
    reader->attach(&reader_slot, &elsewhere, 0);
    reader_slot.generation.store(shared.generation.load());
    for (int i = 0; i < 4; ++i) reader_slot.digest[1][i].store(shared.digest[1][i].load());
    elsewhere.offer(0, 1, Acl::parse("0004F2000666\n", "forged").bytes());
    const auto view = reader->current();
    EXPECT_EQ(view.value, nullptr);
    ASSERT_TRUE(view.error);
    EXPECT_NE(view.error->find("is not the version the watcher published"), std::string::npos) << *view.error;
    // The genuine table (compiling is deterministic) is believed, once the
    // second's pause after a failed attempt is over.
    elsewhere.offer(0, 1, Acl::parse("0004F2000002\n", "genuine").bytes());
    EXPECT_FALSE(lists(*reader, "0004F2000002")) << "tried again at once";
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_TRUE(lists(*reader, "0004F2000002"));
    EXPECT_FALSE(lists(*reader, "0004F2000666"));
}

// Readers on several threads while the watcher publishes: every view is a
// whole list (one of the versions written), never a mix, and the last one
// wins. Run under ThreadSanitizer in CI (build/tsan).
TEST_F(AclFileTest, ReadersOnManyThreadsWhileTheWatcherPublishes) {
    replace("0004F2000000\n");
    auto file = open_acl_file(path_);
    std::atomic<bool> stop{false};
    std::atomic<long> views{0};
    std::atomic<int> broken{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t)
        readers.emplace_back([&] {
            while (!stop.load()) {
                const auto acl = file->current().value;
                // Version k lists exactly k+1 devices: 0004F2000000 .. k.
                const bool whole = acl && acl->find(mac("0004F2000000")) != nullptr &&
                                   (acl->size() == 1 ||
                                    acl->find(mac(("0004F20000" + std::to_string(10 + acl->size() - 1)).c_str())));
                if (!whole) ++broken;
                ++views;
            }
        });
    for (int version = 1; version <= 20; ++version) {
        std::string text = "0004F2000000\n";
        for (int k = 1; k <= version; ++k) text += "0004F20000" + std::to_string(10 + k) + "\n";
        replace(text);
        settle(*file);
    }
    stop = true;
    for (auto& r : readers) r.join();
    EXPECT_EQ(broken.load(), 0);
    EXPECT_GT(views.load(), 0);
    EXPECT_EQ(file->current().value->size(), 21u);
}

// The arrangement the module uses: the published number in memory shared
// with a forked process that only reads.
TEST_F(AclFileTest, AForkedReaderFollowsTheWatchersNumber) {
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    void* mem = ::mmap(nullptr, sizeof(PublishedSlot), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    auto* shared = new (mem) PublishedSlot;
    SnapshotExchange exchange;   // made before the fork, as the module does
    file->attach(shared, &exchange, 0);
    int to_child[2], to_parent[2];
    ASSERT_EQ(::pipe(to_child), 0);
    ASSERT_EQ(::pipe(to_parent), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // The reader: never looks at the file, answers from the snapshot.
        char go;
        int status = 0;
        if (!lists(*file, "0004F2000001")) status |= 1;
        (void)!::write(to_parent[1], "r", 1);   // looked before any change
        if (::read(to_child[0], &go, 1) != 1) status |= 2;
        if (!lists(*file, "0004F2000002") || lists(*file, "0004F2000001")) status |= 4;
        char result = static_cast<char>(status);
        (void)!::write(to_parent[1], &result, 1);
        _exit(0);
    }
    exchange.answer_in_background();   // the watcher's thread, after the fork
    char ready = 0;
    ASSERT_EQ(::read(to_parent[0], &ready, 1), 1);
    replace("0004F2000002\n");
    ASSERT_EQ(settle(*file).kind, WatchEvent::Kind::published);
    std::remove(path_.c_str());  // the reader must not need the file itself
    ASSERT_EQ(::write(to_child[1], "g", 1), 1);
    char result = 0x7f;
    ASSERT_EQ(::read(to_parent[0], &result, 1), 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_EQ(result, 0) << "1: initial list, 2: pipe, 4: published list";
    ::munmap(mem, sizeof(PublishedSlot));
}

// httpd's parent and the watcher serve nothing: once a newer version is
// out, the copy they loaded at startup is let go, and a process that asks
// after all takes the published one.
TEST_F(AclFileTest, AProcessThatServesNothingLetsAnOutdatedCopyGo) {
    replace("0004F2000001\n");
    auto file = open_acl_file(path_);
    const std::weak_ptr<const Acl> startup = file->current().value;
    file->release_outdated(false);
    EXPECT_FALSE(startup.expired()) << "the current version is kept";
    replace("0004F2000002\n");
    ASSERT_EQ(settle(*file).kind, WatchEvent::Kind::published);
    file->release_outdated(false);
    EXPECT_TRUE(startup.expired()) << "the outdated copy is let go";
    EXPECT_TRUE(lists(*file, "0004F2000002"));
    file->release_outdated(true);
    EXPECT_TRUE(lists(*file, "0004F2000002")) << "taken again when asked";
}
