#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <polyprov/upload_store.hpp>

using namespace polyprov;
namespace fs = std::filesystem;

namespace {

class UploadStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::path(::testing::TempDir()) / ("polyprov-upload-" + std::to_string(::getpid()) + "-" +
                                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    StagedBody body(const UploadDirectory& d, const std::string& text) {
        StagedBody b = d.stage();
        EXPECT_TRUE(b.append(text.data(), text.size()));
        return b;
    }
    // One request: the body lives exactly as long as the call, as in the module.
    UploadResult put(const UploadDirectory& d, const std::string& name, std::uint64_t start, const std::string& text,
                     const UploadLimits& limits) {
        StagedBody b = body(d, text);
        return d.write_at(name, start, b, limits);
    }
    UploadResult put_whole(const UploadDirectory& d, const std::string& name, const std::string& text) {
        StagedBody b = body(d, text);
        return d.replace(name, b, limits_);
    }
    std::string read(const std::string& name) {
        std::ifstream in(dir_ / name, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name, std::ios::binary) << text; }
    // Every entry of the directory but the lock file.
    std::set<std::string> entries() {
        std::set<std::string> out;
        for (const auto& e : fs::directory_iterator(dir_))
            if (e.path().filename() != UploadDirectory::kLockFile) out.insert(e.path().filename().string());
        return out;
    }

    fs::path dir_;
    UploadLimits limits_{1024, 2};
};

}  // namespace

TEST_F(UploadStoreTest, ReplaceCreatesThenReplaces) {
    UploadDirectory d(dir_.string());
    EXPECT_EQ(put_whole(d, "0004F2000001-app.log", "first").status, UploadStatus::created);
    const auto r = put_whole(d, "0004F2000001-app.log", "second version");
    EXPECT_EQ(r.status, UploadStatus::replaced);
    EXPECT_EQ(r.current_size, 14u);
    EXPECT_EQ(read("0004F2000001-app.log"), "second version");
    EXPECT_EQ(entries(), (std::set<std::string>{"0004F2000001-app.log"})) << "a temporary file was left behind";
    struct stat st {};
    ::stat((dir_ / "0004F2000001-app.log").c_str(), &st);
    EXPECT_EQ(st.st_mode & 0077 & ~0057u, 0u) << "no write or read for others";
}

TEST_F(UploadStoreTest, RangesAppendAndOverwriteTheTailButLeaveNoHoles) {
    UploadDirectory d(dir_.string());
    EXPECT_EQ(put(d, "a.log", 0, "hello", limits_).status, UploadStatus::created);
    auto r = put(d, "a.log", 5, " world", limits_);
    EXPECT_EQ(r.status, UploadStatus::written);
    EXPECT_EQ(r.current_size, 11u);
    // A phone resending the last part, a little longer.
    EXPECT_EQ(put(d, "a.log", 6, "WORLD!", limits_).status, UploadStatus::written);
    EXPECT_EQ(read("a.log"), "hello WORLD!");
    r = put(d, "a.log", 13, "x", limits_);
    EXPECT_EQ(r.status, UploadStatus::start_beyond_end);
    EXPECT_EQ(r.current_size, 12u);
    r = put(d, "b.log", 3, "x", limits_);
    EXPECT_EQ(r.status, UploadStatus::start_beyond_end);
    EXPECT_EQ(r.current_size, 0u);
    EXPECT_EQ(read("a.log"), "hello WORLD!");
    EXPECT_EQ(entries(), (std::set<std::string>{"a.log"})) << "a temporary file was left behind";
}

TEST_F(UploadStoreTest, LargeBodiesSpillToATemporaryFileAndLeaveNothingBehind) {
    UploadDirectory d(dir_.string());
    const UploadLimits big{1 << 20, 1};
    const std::string a(StagedBody::kInMemory + 1000, 'a'), b(StagedBody::kInMemory * 2, 'b');
    {
        StagedBody staged = d.stage();
        for (std::size_t i = 0; i < a.size(); i += 1000) ASSERT_TRUE(staged.append(a.data() + i, std::min<std::size_t>(1000, a.size() - i)));
        EXPECT_EQ(entries().size(), 1u) << "the spilled body has a temporary file while it lives";
        EXPECT_EQ(d.replace("big.log", staged, big).status, UploadStatus::created);
    }
    EXPECT_EQ(put(d, "big.log", a.size(), b, big).status, UploadStatus::written);
    EXPECT_EQ(read("big.log"), a + b);
    EXPECT_EQ(entries(), (std::set<std::string>{"big.log"}));
}

TEST_F(UploadStoreTest, TheSweepRemovesADeadUploadsTemporaryAndNeverOneInFlight) {
    UploadDirectory d(dir_.string());
    const std::string big(StagedBody::kInMemory + 1, 'x');
    const auto age = [&](const std::string& name) {
        const timespec old[2] = {{std::time(nullptr) - 3600, 0}, {std::time(nullptr) - 3600, 0}};
        ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ / name).c_str(), old, AT_SYMLINK_NOFOLLOW), 0);
    };
    // A process that dies mid-upload: its temporary stays, unlocked.
    const auto die_mid_upload = [&]() {
        const std::set<std::string> before = entries();
        const pid_t child = ::fork();
        if (child == 0) {
            StagedBody staged = d.stage();
            ::_exit(staged.append(big.data(), big.size()) ? 0 : 1);  // no destructor runs
        }
        int status = 0;
        EXPECT_EQ(::waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        std::set<std::string> added;
        for (const auto& name : entries())
            if (!before.count(name)) added.insert(name);
        EXPECT_EQ(added.size(), 1u);
        return added.empty() ? std::string() : *added.begin();
    };

    const std::string dead = die_mid_upload();
    const std::string dead_lately = die_mid_upload();   // not idle yet: kept
    ASSERT_FALSE(dead.empty());
    ASSERT_FALSE(dead_lately.empty());
    // An upload in flight, as quiet for as long as the dead one.
    StagedBody in_flight = d.stage();
    ASSERT_TRUE(in_flight.append(big.data(), big.size()));
    std::string live;
    for (const auto& name : entries())
        if (name != dead && name != dead_lately) live = name;
    ASSERT_FALSE(live.empty());
    // Names with the prefix that are no upload's: never opened nor removed.
    write("target.txt", "someone else's");
    ASSERT_EQ(::symlink("target.txt", (dir_ / ".polyprov-upload-link").c_str()), 0);
    ASSERT_EQ(::mkfifo((dir_ / ".polyprov-upload-fifo").c_str(), 0600), 0);
    for (const auto& name : {dead, live, std::string(".polyprov-upload-link"), std::string(".polyprov-upload-fifo")})
        age(name);

    EXPECT_EQ(d.sweep_stale_temporaries(900), 1u);
    EXPECT_EQ(entries(), (std::set<std::string>{dead_lately, live, ".polyprov-upload-link", ".polyprov-upload-fifo",
                                                "target.txt"}));

    // The upload in flight completes as if nothing had happened.
    EXPECT_EQ(d.replace("done.log", in_flight, UploadLimits{1 << 20, 1}).status, UploadStatus::created);
    EXPECT_EQ(read("done.log"), big);
    EXPECT_EQ(read("target.txt"), "someone else's");
    EXPECT_EQ(d.sweep_stale_temporaries(900), 0u);
}

TEST_F(UploadStoreTest, SpecialFilesAreRefusedAndLeftAlone) {
    UploadDirectory d(dir_.string());
    write("target", "precious");
    fs::create_symlink(dir_ / "target", dir_ / "link.log");
    fs::create_directory(dir_ / "dir.log");
    ASSERT_EQ(::mkfifo((dir_ / "fifo.log").c_str(), 0600), 0);
    for (const char* name : {"link.log", "dir.log", "fifo.log"}) {
        EXPECT_EQ(put(d, name, 0, "evil", limits_).status, UploadStatus::not_regular) << name;
        EXPECT_EQ(put_whole(d, name, "evil").status, UploadStatus::not_regular) << name;
    }
    EXPECT_EQ(read("target"), "precious");
    EXPECT_TRUE(fs::is_symlink(dir_ / "link.log"));
    EXPECT_EQ(entries(), (std::set<std::string>{"target", "link.log", "dir.log", "fifo.log"}));
}

TEST_F(UploadStoreTest, RotationBoundsTheFileAndKeepsGenerations) {
    UploadDirectory d(dir_.string());
    const UploadLimits small{10, 2};
    EXPECT_EQ(put(d, "r.log", 0, "0123456789", small).status, UploadStatus::created);
    EXPECT_EQ(put(d, "r.log", 10, "abc", small).status, UploadStatus::rotated);   // 13 > 10
    EXPECT_EQ(read("r.log"), "abc");
    EXPECT_EQ(read("r.log.1"), "0123456789");
    EXPECT_EQ(put(d, "r.log", 3, "def", small).status, UploadStatus::written);
    EXPECT_EQ(put(d, "r.log", 6, "ghi", small).status, UploadStatus::written);
    EXPECT_EQ(read("r.log"), "abcdefghi");
    EXPECT_EQ(put(d, "r.log", 9, "jk", small).status, UploadStatus::rotated);
    EXPECT_EQ(read("r.log"), "jk");
    EXPECT_EQ(read("r.log.1"), "abcdefghi");
    EXPECT_EQ(read("r.log.2"), "0123456789");
    EXPECT_EQ(put(d, "r.log", 2, "0123456789X", small).status, UploadStatus::too_large);
    EXPECT_EQ(read("r.log"), "jk");
    EXPECT_EQ(put(d, "r.log", 2, "lmnopqrstu", small).status, UploadStatus::rotated);
    EXPECT_EQ(entries(), (std::set<std::string>{"r.log", "r.log.1", "r.log.2"})) << "keep=2 kept more";
    EXPECT_EQ(read("r.log.2"), "abcdefghi");
    EXPECT_EQ(read("r.log"), "lmnopqrstu");
}

TEST_F(UploadStoreTest, FailedWriteLeavesTheFileAsItWas) {
    UploadDirectory d(dir_.string());
    const std::string original(4000, 'o');
    write("f.log", original);
    const UploadLimits big{1 << 20, 2};
    // Writes past 5000 bytes fail with EFBIG, as a full disk would fail them.
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    auto b1 = body(d, std::string(2000, 'n'));
    auto b2 = body(d, std::string(2000, 'n'));
    rlimit low{5000, old.rlim_max};
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &low), 0);
    const auto append = d.write_at("f.log", 4000, b1, big);        // pure append
    const auto overlap = d.write_at("f.log", 3500, b2, big);       // overwrites 500 bytes first
    ::setrlimit(RLIMIT_FSIZE, &old);
    EXPECT_EQ(append.status, UploadStatus::failed);
    EXPECT_EQ(overlap.status, UploadStatus::failed);
    EXPECT_NE(append.detail.find("write"), std::string::npos) << append.detail;
    EXPECT_EQ(read("f.log"), original) << "the file changed";
}

TEST_F(UploadStoreTest, ConcurrentWritersNeverInterleaveOrLoseARecord) {
    // Record k (fixed length) belongs at offset k*L and is written by thread
    // k % N, which retries while its slot is beyond the end (416). Every
    // write races every other thread for the file's lock; the result must
    // be all records, each whole, in order.
    constexpr int kThreads = 8, kRecords = 400;
    constexpr std::size_t kLength = 48;
    auto record = [](int k) {
        std::string text = "record " + std::to_string(k) + " written by thread " + std::to_string(k % kThreads) + " ";
        text.resize(kLength - 1, '.');
        return text + '\n';
    };
    std::atomic<int> waits{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            UploadDirectory d(dir_.string());
            for (int k = t; k < kRecords; k += kThreads) {
                const std::string text = record(k);
                for (;;) {
                    StagedBody b = d.stage();
                    b.append(text.data(), text.size());
                    const auto r = d.write_at("shared.log", std::uint64_t(k) * kLength, b, UploadLimits{1 << 20, 1});
                    if (r.status != UploadStatus::start_beyond_end) {
                        EXPECT_TRUE(r.status == UploadStatus::written || r.status == UploadStatus::created);
                        break;
                    }
                    ++waits;
                    std::this_thread::yield();
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    std::string expected;
    for (int k = 0; k < kRecords; ++k) expected += record(k);
    EXPECT_EQ(read("shared.log"), expected);
    EXPECT_EQ(entries(), (std::set<std::string>{"shared.log"}));
    std::printf("[ figures  ] %d threads wrote %d records into one file; %d writes found their slot not yet reached\n",
                kThreads, kRecords, waits.load());
}

TEST_F(UploadStoreTest, AWriterStuckHoldingTheLockMakesOthersBusyNotHung) {
    UploadDirectory d(dir_.string());
    write("app.log", "0123");
    // A writer that holds the file's lock and never comes back (an fsync on
    // a dead file server): here, a lock over the whole lock file.
    const int held = ::open((dir_ / UploadDirectory::kLockFile).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(held, 0);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    ASSERT_EQ(::fcntl(held, F_OFD_SETLK, &fl), 0);

    const UploadLimits limits{1 << 20, 2, std::chrono::milliseconds(300)};
    for (const bool ranged : {true, false}) {
        const auto began = std::chrono::steady_clock::now();
        StagedBody b = body(d, "45");
        const UploadResult r = ranged ? d.write_at("app.log", 4, b, limits) : d.replace("app.log", b, limits);
        const auto waited = std::chrono::steady_clock::now() - began;
        EXPECT_EQ(r.status, UploadStatus::busy) << r.detail;
        EXPECT_GE(waited, std::chrono::milliseconds(300));
        EXPECT_LT(waited, std::chrono::milliseconds(1500));
        EXPECT_EQ(read("app.log"), "0123");
    }
    ::close(held);   // the stuck writer goes away: the next one gets through at once
    EXPECT_EQ(put(d, "app.log", 4, "45", limits).status, UploadStatus::written);
    EXPECT_EQ(read("app.log"), "012345");
    EXPECT_EQ(entries(), (std::set<std::string>{"app.log"}));
}
