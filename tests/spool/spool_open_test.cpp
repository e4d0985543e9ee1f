// Opening a spool file that cannot be used right now must not move its backlog aside:
// only a file proven corrupt is kept aside (and a new spool started); a file locked by
// another process or whose -wal cannot be opened stays where it is, with its entries,
// for the next try (issue 15, item 4).
#include "agent/spool/spool.hpp"
#include "spool_test_support.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace {

using tierd::Spool;
using tierd::SpoolOptions;
using tierd::spool_test::rows_on_disk;
using tierd::spool_test::TempDir;

SpoolOptions options_in(const TempDir &dir) {
    SpoolOptions o;
    o.path = (dir.path / "spool.db").string();
    return o;
}

void store_entries(const SpoolOptions &o, int n) {
    Spool spool(o);
    for (int i = 0; i < n; ++i)
        ASSERT_EQ(spool.append("t", "entry-" + std::to_string(i), 1000 + i), Spool::Append::stored);
}

int files_kept_aside(const TempDir &dir) {
    int n = 0;
    for (const auto &e : std::filesystem::directory_iterator(dir.path))
        if (e.path().filename().string().find(".corrupt-") != std::string::npos)
            ++n;
    return n;
}

// Opens the spool, whatever it does (a spool that cannot be used may throw).
void try_open(const SpoolOptions &o) {
    try {
        Spool spool(o);
    } catch (const std::exception &) {
    }
}

// Another process holds the file with an exclusive lock (locking_mode=EXCLUSIVE: even
// readers are kept out) until its stdin closes.
struct LockHolder {
    std::FILE *pipe = nullptr;
    explicit LockHolder(const std::string &path) {
        const std::string cmd = "/usr/bin/python3 -c 'import sqlite3, sys\n"
                                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                                "c.execute(\"PRAGMA locking_mode=EXCLUSIVE\")\n"
                                "c.execute(\"BEGIN EXCLUSIVE\")\n"
                                "c.execute(\"SELECT count(*) FROM spool\").fetchall()\n"
                                "open(sys.argv[1] + \".locked\", \"w\").close()\n"
                                "sys.stdin.read()' " +
                                path;
        pipe = ::popen(cmd.c_str(), "w");
        for (int i = 0; i < 200 && !std::filesystem::exists(path + ".locked"); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    bool holding(const std::string &path) const {
        return std::filesystem::exists(path + ".locked");
    }
    void release() {
        if (pipe)
            ::pclose(pipe);
        pipe = nullptr;
    }
    ~LockHolder() { release(); }
};

TEST(SpoolOpen, AFileLockedByAnotherProcessIsNotMovedAside) {
    TempDir dir;
    const auto o = options_in(dir);
    store_entries(o, 5);
    LockHolder lock(o.path);
    ASSERT_TRUE(lock.holding(o.path));
    try_open(o);
    lock.release();
    EXPECT_EQ(files_kept_aside(dir), 0) << "a locked spool was moved aside";
    EXPECT_EQ(rows_on_disk(o.path), 5);
    Spool again(o);
    EXPECT_EQ(again.stats().recovered, 5u);
}

TEST(SpoolOpen, AFileWhoseWalCannotBeOpenedIsNotMovedAside) {
    TempDir dir;
    const auto o = options_in(dir);
    store_entries(o, 5);
    // What a wrong owner, a full inode table or a stray directory does to the -wal: SQLite
    // cannot open it, the database itself is fine.
    std::filesystem::create_directory(o.path + "-wal");
    try_open(o);
    std::filesystem::remove(o.path + "-wal");
    EXPECT_EQ(files_kept_aside(dir), 0) << "a spool with an unusable -wal was moved aside";
    Spool again(o);
    EXPECT_EQ(again.stats().recovered, 5u);
}

TEST(SpoolOpen, AFileThatCannotBeOpenedNowThrowsUnavailable) {
    TempDir dir;
    const auto o = options_in(dir);
    store_entries(o, 1);
    std::filesystem::create_directory(o.path + "-wal");
    EXPECT_THROW(Spool spool(o), tierd::SpoolUnavailable);
    std::filesystem::remove(o.path + "-wal");
}

TEST(SpoolOpen, ACorruptFileIsKeptAsideAndANewSpoolStarted) {
    TempDir dir;
    const auto o = options_in(dir);
    {
        Spool spool(o);
        for (int i = 0; i < 200; ++i)
            spool.append("t", std::string(900, 'x'), i);
    }
    {
        // Garbage over a page of the table: a valid header, a broken b-tree.
        std::fstream f(o.path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096 * 3);
        const std::string junk(4096, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    Spool spool(o);
    EXPECT_EQ(spool.stats().recovered, 0u);
    EXPECT_EQ(files_kept_aside(dir), 1);
    EXPECT_EQ(spool.append("t", "fresh", 1), Spool::Append::stored);
}

} // namespace
