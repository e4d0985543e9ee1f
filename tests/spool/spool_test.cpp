// The durable spool on real SQLite files: order, persistence across reopening (what a
// restart sees), the byte bound under each when_full policy, expiry, and a file that is
// not a spool being kept aside.
#include "agent/spool/spool.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

using tierd::Spool;
using tierd::SpoolOptions;
using tierd::SpoolWhenFull;

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/tierd-spool-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

SpoolOptions file_options(const TempDir &dir) {
    SpoolOptions o;
    o.path = (dir.path / "spool.db").string();
    return o;
}

std::string payload(int i, std::size_t size = 100) {
    std::string s = "entry-" + std::to_string(i) + ":";
    s.resize(size, 'x');
    return s;
}

// Appends 1000-byte entries (a 1-byte topic, 999 payload bytes) until the next would
// not fit; returns how many, each stored.
int fill(Spool &spool) {
    int i = 0;
    for (; spool.has_room(1000); ++i)
        EXPECT_EQ(spool.append("t", payload(i, 999), i), Spool::Append::stored);
    return i;
}

TEST(Spool, EntriesComeBackInOrderAndSurviveReopening) {
    TempDir dir;
    {
        Spool spool(file_options(dir));
        for (int i = 0; i < 10; ++i)
            ASSERT_EQ(spool.append("t/results", payload(i), 1000 + i), Spool::Append::stored);
        auto first = spool.read_after(0, 3);
        ASSERT_EQ(first.size(), 3u);
        spool.delivered(first[0].seq);
        spool.delivered(first[1].seq);
        EXPECT_EQ(spool.stats().entries, 8u);
        EXPECT_EQ(spool.stats().delivered, 2u);
    }
    // What a restart (or a kill -9 after the commits) finds.
    Spool again(file_options(dir));
    EXPECT_EQ(again.stats().recovered, 8u);
    EXPECT_EQ(again.stats().bytes, 8u * (9 + 100));
    auto all = again.read_after(0, 100);
    ASSERT_EQ(all.size(), 8u);
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].payload, payload(static_cast<int>(i) + 2));
        EXPECT_EQ(all[i].topic, "t/results");
        if (i > 0) {
            EXPECT_GT(all[i].seq, all[i - 1].seq);
        }
    }
    // New entries get higher sequence numbers than anything before the restart.
    ASSERT_EQ(again.append("t", "new", 2000), Spool::Append::stored);
    EXPECT_GT(again.read_after(all.back().seq, 10).at(0).seq, all.back().seq);
}

TEST(Spool, DropOldestFreesASegmentAtOnceAndCountsIt) {
    TempDir dir;
    auto o = file_options(dir);
    o.max_bytes = 1 << 16;     // 64 KiB
    o.segment_bytes = 1 << 14; // 16 KiB
    Spool spool(o);
    int i = fill(spool);
    const auto before = spool.stats().entries;
    ASSERT_EQ(spool.append("t", payload(i, 999), i), Spool::Append::stored);
    const auto &s = spool.stats();
    // ~16 KiB of 1000-byte entries went at once, the oldest ones.
    EXPECT_GE(s.dropped_oldest, 16u);
    EXPECT_LE(s.dropped_oldest, 18u);
    EXPECT_EQ(s.entries, before + 1 - s.dropped_oldest);
    EXPECT_LE(s.bytes, static_cast<std::uint64_t>(o.max_bytes));
    auto oldest = spool.read_after(0, 1).at(0);
    EXPECT_EQ(oldest.payload, payload(static_cast<int>(s.dropped_oldest), 999));
}

TEST(Spool, DropNewestRefusesTheNewEntry) {
    TempDir dir;
    auto o = file_options(dir);
    o.max_bytes = 1 << 16;
    o.when_full = SpoolWhenFull::drop_newest;
    Spool spool(o);
    int i = fill(spool);
    EXPECT_EQ(spool.append("t", payload(i, 999), i), Spool::Append::dropped_newest);
    EXPECT_EQ(spool.stats().dropped_newest, 1u);
    EXPECT_EQ(spool.read_after(0, 1).at(0).payload, payload(0, 999));
}

TEST(Spool, BlockStoresBeyondTheBoundAndSaysItIsFull) {
    TempDir dir;
    auto o = file_options(dir);
    o.max_bytes = 1 << 16;
    o.when_full = SpoolWhenFull::block;
    Spool spool(o);
    int i = fill(spool);
    EXPECT_EQ(spool.append("t", payload(i, 999), i), Spool::Append::stored);
    EXPECT_FALSE(spool.has_room());
    EXPECT_EQ(spool.stats().over_bound, 1u);
    auto first = spool.read_after(0, 2);
    spool.delivered(first[0].seq);
    spool.delivered(first[1].seq);
    EXPECT_TRUE(spool.has_room());
}

TEST(Spool, ExpiryDropsOnlyEntriesPastTheirTimeToLive) {
    Spool spool(SpoolOptions{"", 1 << 20, 1 << 14, 5000});
    spool.append("t", "old-1", 1000);
    spool.append("t", "old-2", 2000);
    spool.append("t", "young", 9000);
    EXPECT_EQ(spool.expire(9999), 2u);
    EXPECT_EQ(spool.stats().expired, 2u);
    EXPECT_EQ(spool.stats().entries, 1u);
    EXPECT_EQ(spool.stats().oldest_ms, 9000);
    EXPECT_EQ(spool.read_after(0, 5).at(0).payload, "young");
    EXPECT_EQ(spool.expire(10000), 0u);
}

TEST(Spool, AFileThatIsNotASpoolIsKeptAsideNotDeleted) {
    TempDir dir;
    auto o = file_options(dir);
    {
        std::ofstream f(o.path);
        f << "these bytes are not an SQLite database, but they may matter to someone\n";
    }
    Spool spool(o);
    EXPECT_EQ(spool.append("t", "fresh", 1), Spool::Append::stored);
    int aside = 0;
    for (const auto &e : std::filesystem::directory_iterator(dir.path))
        if (e.path().filename().string().rfind("spool.db.corrupt-", 0) == 0)
            ++aside;
    EXPECT_EQ(aside, 1);
}

TEST(Spool, DeliveringTwiceOrAfterADropIsHarmless) {
    Spool spool(SpoolOptions{});
    spool.append("t", "a", 1);
    auto e = spool.read_after(0, 1).at(0);
    spool.delivered(e.seq);
    spool.delivered(e.seq);
    EXPECT_EQ(spool.stats().delivered, 1u);
    EXPECT_EQ(spool.stats().entries, 0u);
    EXPECT_EQ(spool.stats().bytes, 0u);
}

} // namespace
