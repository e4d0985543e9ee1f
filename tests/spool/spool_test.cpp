// The spool stores' semantics, held to the same expectations for both stores: the SQLite
// file (Spool) and the memory store (MemorySpool, storage = "memory"): order and seqs, the
// byte bound under each when_full policy, telemetry under block, expiry, counters,
// adoption and transactions. Then what only a file does: persistence across reopening and
// a file that is not a spool being kept aside.
#include "agent/spool/memory_spool.hpp"
#include "agent/spool/spool.hpp"
#include "spool_test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

using tierd::EntryClass;
using tierd::MemorySpool;
using tierd::Spool;
using tierd::SpoolEntry;
using tierd::SpoolOptions;
using tierd::SpoolStore;
using tierd::SpoolWhenFull;
using tierd::spool_test::open_store;
using tierd::spool_test::Store;
using tierd::spool_test::TempDir;

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

// Appends 1000-byte results (a 1-byte topic, 999 payload bytes) created at `i` until the
// next would not fit; returns how many, each stored.
int fill(SpoolStore &spool, int first = 0) {
    int i = first;
    for (; spool.has_room(1000); ++i)
        EXPECT_EQ(spool.append("t", payload(i, 999), i), SpoolStore::Append::stored);
    return i - first;
}

std::vector<std::string> payloads(SpoolStore &spool) {
    std::vector<std::string> out;
    for (auto &e : spool.read_after(0, 1000000))
        out.push_back(e.payload);
    return out;
}

class SpoolSemantics : public ::testing::TestWithParam<Store> {
  protected:
    std::unique_ptr<SpoolStore> open(SpoolOptions o = {}) {
        return open_store(GetParam(), dir_, o);
    }
    SpoolOptions bounded(SpoolWhenFull when_full) {
        SpoolOptions o;
        o.max_bytes = 1 << 16;     // 64 KiB
        o.segment_bytes = 1 << 14; // 16 KiB
        o.when_full = when_full;
        return o;
    }

  private:
    TempDir dir_;
};

TEST_P(SpoolSemantics, EntriesComeBackInOrderWithTheirTopicTimeAndClass) {
    auto spool = open();
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(spool->append("t/" + std::to_string(i), payload(i), 1000 + i,
                                i % 3 == 0 ? EntryClass::telemetry : EntryClass::result),
                  SpoolStore::Append::stored);
    auto first = spool->read_after(0, 3);
    ASSERT_EQ(first.size(), 3u);
    auto rest = spool->read_after(first.back().seq, 100);
    ASSERT_EQ(rest.size(), 7u);
    first.insert(first.end(), rest.begin(), rest.end());
    for (std::size_t i = 0; i < first.size(); ++i) {
        const auto &e = first[i];
        const int n = static_cast<int>(i);
        EXPECT_EQ(e.topic, "t/" + std::to_string(n));
        EXPECT_EQ(e.payload, payload(n));
        EXPECT_EQ(e.created_ms, 1000 + n);
        EXPECT_EQ(e.cls, n % 3 == 0 ? EntryClass::telemetry : EntryClass::result);
        if (i > 0) {
            EXPECT_GT(e.seq, first[i - 1].seq);
        }
    }
    EXPECT_EQ(spool->last_seq(), first.back().seq);
    EXPECT_TRUE(spool->has_after(first[8].seq));
    EXPECT_FALSE(spool->has_after(first[9].seq));
    EXPECT_TRUE(spool->read_after(first[9].seq, 10).empty());
    // A gap (a delivered entry) is skipped.
    ASSERT_TRUE(spool->delivered(first[5].seq));
    auto after = spool->read_after(first[4].seq, 1);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].seq, first[6].seq);
}

TEST_P(SpoolSemantics, ASeqIsNeverGivenTwiceEvenAfterItsEntryIsGone) {
    auto spool = open(bounded(SpoolWhenFull::drop_oldest));
    ASSERT_EQ(spool->append("t", "a", 1), SpoolStore::Append::stored);
    ASSERT_EQ(spool->append("t", "b", 2), SpoolStore::Append::stored);
    const auto b = spool->last_seq();
    ASSERT_TRUE(spool->delivered(b)); // the newest goes first
    ASSERT_TRUE(spool->delivered(b - 1));
    ASSERT_EQ(spool->stats().entries, 0u);
    ASSERT_EQ(spool->append("t", "c", 3), SpoolStore::Append::stored);
    EXPECT_GT(spool->last_seq(), b);
    EXPECT_EQ(spool->read_after(0, 10).at(0).seq, spool->last_seq());
    // Nor after drop-oldest.
    fill(*spool, 10);
    const auto before = spool->last_seq();
    ASSERT_EQ(spool->append("t", payload(0, 999), 99), SpoolStore::Append::stored);
    ASSERT_GT(spool->stats().dropped_oldest, 0u);
    EXPECT_EQ(spool->last_seq(), before + 1);
}

TEST_P(SpoolSemantics, CountersFollowEveryOutcome) {
    auto spool = open();
    for (int i = 0; i < 6; ++i)
        ASSERT_EQ(spool->append("topic", payload(i, 95), 100 + i), SpoolStore::Append::stored);
    const auto &s = spool->stats();
    EXPECT_EQ(s.stored, 6u);
    EXPECT_EQ(s.entries, 6u);
    EXPECT_EQ(s.bytes, 6u * 100);
    EXPECT_EQ(s.oldest_ms, 100);
    EXPECT_EQ(s.recovered, 0u);
    const auto all = spool->read_after(0, 10);
    ASSERT_TRUE(spool->delivered(all[0].seq));
    ASSERT_TRUE(spool->rejected(all[1].seq));
    ASSERT_TRUE(spool->rejected(all[2].seq, true));
    ASSERT_TRUE(spool->delivered(all[4].seq)); // out of order: the window's PUBACKs
    EXPECT_EQ(s.delivered, 2u);
    EXPECT_EQ(s.rejected, 1u);
    EXPECT_EQ(s.oversize, 1u);
    EXPECT_EQ(s.entries, 2u);
    EXPECT_EQ(s.bytes, 2u * 100);
    EXPECT_EQ(s.oldest_ms, 103);
    EXPECT_EQ(s.stored, 6u);
    for (auto n : {s.dropped_oldest, s.dropped_newest, s.dropped_telemetry, s.expired,
                   s.write_failed, s.over_bound})
        EXPECT_EQ(n, 0u);
    ASSERT_TRUE(spool->delivered(all[3].seq));
    ASSERT_TRUE(spool->delivered(all[5].seq));
    EXPECT_EQ(s.entries, 0u);
    EXPECT_EQ(s.bytes, 0u);
    EXPECT_EQ(s.oldest_ms, 0);
}

TEST_P(SpoolSemantics, DeliveringTwiceOrAfterADropIsHarmless) {
    auto spool = open(bounded(SpoolWhenFull::drop_oldest));
    spool->append("t", "a", 1);
    auto e = spool->read_after(0, 1).at(0);
    EXPECT_TRUE(spool->delivered(e.seq));
    EXPECT_TRUE(spool->delivered(e.seq));
    EXPECT_TRUE(spool->rejected(e.seq));
    EXPECT_EQ(spool->stats().delivered, 1u);
    EXPECT_EQ(spool->stats().rejected, 0u);
    EXPECT_EQ(spool->stats().entries, 0u);
    EXPECT_EQ(spool->stats().bytes, 0u);
    // An entry dropped to make room, acknowledged later (it was in flight).
    fill(*spool);
    const auto oldest = spool->read_after(0, 1).at(0);
    ASSERT_EQ(spool->append("t", payload(0, 999), 0), SpoolStore::Append::stored);
    const auto s = spool->stats();
    ASSERT_GT(s.dropped_oldest, 0u);
    EXPECT_TRUE(spool->delivered(oldest.seq));
    EXPECT_EQ(spool->stats().delivered, 1u);
    EXPECT_EQ(spool->stats().entries, s.entries);
}

TEST_P(SpoolSemantics, HasRoomUpToTheBoundInclusive) {
    SpoolOptions o;
    o.max_bytes = 1000;
    auto spool = open(o);
    EXPECT_TRUE(spool->has_room(1000));
    EXPECT_FALSE(spool->has_room(1001));
    ASSERT_EQ(spool->append("t", std::string(599, 'x'), 1), SpoolStore::Append::stored);
    EXPECT_TRUE(spool->has_room(400));
    EXPECT_FALSE(spool->has_room(401));
}

TEST_P(SpoolSemantics, DropOldestFreesASegmentAtOnceAndCountsIt) {
    const auto o = bounded(SpoolWhenFull::drop_oldest);
    auto spool = open(o);
    int i = fill(*spool);
    const auto before = spool->stats().entries;
    ASSERT_EQ(spool->append("t", payload(i, 999), i), SpoolStore::Append::stored);
    const auto &s = spool->stats();
    // ~16 KiB of 1000-byte entries went at once, the oldest ones: held bytes went to at
    // most max - need - segment.
    EXPECT_EQ(s.dropped_oldest, 17u);
    EXPECT_EQ(s.entries, before + 1 - s.dropped_oldest);
    EXPECT_EQ(s.bytes, s.entries * 1000);
    EXPECT_LE(s.bytes, static_cast<std::uint64_t>(o.max_bytes));
    auto oldest = spool->read_after(0, 1).at(0);
    EXPECT_EQ(oldest.payload, payload(static_cast<int>(s.dropped_oldest), 999));
    EXPECT_EQ(s.oldest_ms, static_cast<std::int64_t>(s.dropped_oldest));
    // The next appends fit in the freed segment: nothing more is dropped.
    for (int k = 0; k < 16; ++k)
        ASSERT_EQ(spool->append("t", payload(i + 1 + k, 999), i + 1 + k),
                  SpoolStore::Append::stored);
    EXPECT_EQ(s.dropped_oldest, 17u);
}

TEST_P(SpoolSemantics, DropOldestFreesAtMostHalfTheBoundForASegment) {
    auto o = bounded(SpoolWhenFull::drop_oldest);
    o.segment_bytes = std::int64_t{1} << 30; // larger than the bound: half of it goes
    auto spool = open(o);
    fill(*spool);
    ASSERT_EQ(spool->append("t", payload(0, 999), 0), SpoolStore::Append::stored);
    const auto &s = spool->stats();
    // Down to at most 65536 - 1000 - 32768 bytes (31 entries), then the new one.
    EXPECT_EQ(s.dropped_oldest, 34u);
    EXPECT_EQ(s.entries, 32u);
}

TEST_P(SpoolSemantics, DropNewestRefusesTheNewEntry) {
    auto spool = open(bounded(SpoolWhenFull::drop_newest));
    int i = fill(*spool);
    const auto held = spool->stats();
    EXPECT_EQ(spool->append("t", payload(i, 999), i), SpoolStore::Append::dropped_newest);
    // Telemetry follows the same rule outside of block.
    EXPECT_EQ(spool->append("t", payload(i, 999), i, EntryClass::telemetry),
              SpoolStore::Append::dropped_newest);
    EXPECT_EQ(spool->stats().dropped_newest, 2u);
    EXPECT_EQ(spool->stats().dropped_telemetry, 0u);
    EXPECT_EQ(spool->stats().entries, held.entries);
    EXPECT_EQ(spool->stats().stored, held.stored);
    EXPECT_EQ(spool->last_seq(), static_cast<std::int64_t>(held.stored));
    EXPECT_EQ(spool->read_after(0, 1).at(0).payload, payload(0, 999));
    // A smaller entry that fits is still taken.
    EXPECT_EQ(spool->append("t", "x", i), SpoolStore::Append::stored);
}

TEST_P(SpoolSemantics, BlockStoresBeyondTheBoundAndSaysItIsFull) {
    auto spool = open(bounded(SpoolWhenFull::block));
    int i = fill(*spool);
    EXPECT_EQ(spool->append("t", payload(i, 999), i), SpoolStore::Append::stored);
    EXPECT_FALSE(spool->has_room());
    EXPECT_EQ(spool->stats().over_bound, 1u);
    EXPECT_EQ(spool->stats().dropped_oldest, 0u);
    auto first = spool->read_after(0, 2);
    spool->delivered(first[0].seq);
    spool->delivered(first[1].seq);
    EXPECT_TRUE(spool->has_room());
}

TEST_P(SpoolSemantics, TelemetryUnderBlockReplacesTheOldestTelemetry) {
    const auto o = bounded(SpoolWhenFull::block);
    auto spool = open(o);
    for (int k = 0; k < 3; ++k)
        ASSERT_EQ(spool->append("tm", "sample-" + std::to_string(k) + std::string(990, 't'), k,
                                EntryClass::telemetry),
                  SpoolStore::Append::stored);
    const int results = fill(*spool, 10);
    ASSERT_EQ(spool->append("tm", "latest" + std::string(994, 't'), 100, EntryClass::telemetry),
              SpoolStore::Append::stored);
    const auto &s = spool->stats();
    EXPECT_EQ(s.dropped_telemetry, 1u);
    EXPECT_EQ(s.over_bound, 0u);
    EXPECT_LE(s.bytes, static_cast<std::uint64_t>(o.max_bytes));
    const auto held = payloads(*spool);
    ASSERT_EQ(held.size(), static_cast<std::size_t>(results) + 3);
    EXPECT_EQ(held.front().substr(0, 8), "sample-1") << "the oldest sample was kept";
    EXPECT_EQ(held.back().substr(0, 6), "latest");
    EXPECT_EQ(s.oldest_ms, 1);
}

TEST_P(SpoolSemantics, TelemetryUnderBlockIsDroppedWhenNoTelemetryCanMakeWay) {
    const auto o = bounded(SpoolWhenFull::block);
    auto spool = open(o);
    ASSERT_EQ(spool->append("tm", std::string(99, 't'), 1, EntryClass::telemetry),
              SpoolStore::Append::stored);
    const int results = fill(*spool, 10);
    // Not enough telemetry to make room for a larger sample: all of it gives way and the
    // new sample is dropped too; results are never dropped for telemetry.
    EXPECT_EQ(spool->append("tm", std::string(1999, 'T'), 100, EntryClass::telemetry),
              SpoolStore::Append::dropped_newest);
    const auto &s = spool->stats();
    EXPECT_EQ(s.dropped_telemetry, 2u);
    EXPECT_EQ(s.dropped_newest, 0u);
    EXPECT_EQ(s.over_bound, 0u);
    EXPECT_EQ(s.entries, static_cast<std::uint64_t>(results));
    EXPECT_EQ(s.oldest_ms, 10) << "oldest_ms still names a dropped sample";
    // A result still goes beyond the bound.
    EXPECT_EQ(spool->append("t", payload(0, 999), 101), SpoolStore::Append::stored);
    EXPECT_EQ(s.over_bound, 1u);
}

TEST_P(SpoolSemantics, ExpiryDropsOnlyEntriesPastTheirTimeToLive) {
    SpoolOptions o;
    o.max_age_ms = 5000;
    auto spool = open(o);
    spool->append("t", "old-1", 1000);
    spool->append("t", "old-2", 2000);
    spool->append("t", "young", 9000);
    EXPECT_FALSE(spool->expiry_due(5999));
    EXPECT_EQ(spool->expire(5999), 0u);
    EXPECT_TRUE(spool->expiry_due(6000));
    EXPECT_EQ(spool->expire(6000), 0u); // exactly max_age old: not yet past it
    EXPECT_EQ(spool->expire(9999), 2u);
    EXPECT_EQ(spool->stats().expired, 2u);
    EXPECT_EQ(spool->stats().entries, 1u);
    EXPECT_EQ(spool->stats().bytes, 6u);
    EXPECT_EQ(spool->stats().oldest_ms, 9000);
    EXPECT_EQ(spool->read_after(0, 5).at(0).payload, "young");
    EXPECT_EQ(spool->expire(10000), 0u);
    EXPECT_FALSE(spool->expiry_due(10000));
}

TEST_P(SpoolSemantics, ExpiryGoesByTimeNotBySeqAndAtMostMaxEntriesACall) {
    SpoolOptions o;
    o.max_age_ms = 1000;
    auto spool = open(o);
    // Times need not follow seqs (entries adopted from before, a caller's clock).
    spool->append("t", "late", 5000);
    spool->append("t", "early-1", 100);
    spool->append("t", "early-2", 200);
    spool->append("t", "early-3", 300);
    EXPECT_EQ(spool->stats().oldest_ms, 100);
    EXPECT_EQ(spool->expire(2000, 2), 2u);
    EXPECT_EQ(spool->stats().oldest_ms, 300);
    EXPECT_EQ(spool->expire(2000), 1u);
    EXPECT_EQ(payloads(*spool), std::vector<std::string>{"late"});
    EXPECT_EQ(spool->stats().oldest_ms, 5000);
    EXPECT_EQ(spool->stats().expired, 3u);
}

TEST_P(SpoolSemantics, NoExpiryWithoutATimeToLive) {
    auto spool = open();
    spool->append("t", "ancient", 1);
    EXPECT_FALSE(spool->expiry_due(std::int64_t{1} << 50));
    EXPECT_EQ(spool->expire(std::int64_t{1} << 50), 0u);
    EXPECT_EQ(spool->stats().entries, 1u);
}

TEST_P(SpoolSemantics, AdoptedEntriesKeepTheirTimeAndClassAndAreNotCountedAsStored) {
    auto spool = open();
    SpoolEntry e;
    e.seq = 77; // the other store's seq: not kept
    e.created_ms = 1234;
    e.topic = "t/telemetry";
    e.payload = "sample";
    e.cls = EntryClass::telemetry;
    ASSERT_EQ(spool->adopt(e), SpoolStore::Append::stored);
    ASSERT_EQ(spool->append("t", "new", 5000), SpoolStore::Append::stored);
    const auto all = spool->read_after(0, 10);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].created_ms, 1234);
    EXPECT_EQ(all[0].cls, EntryClass::telemetry);
    EXPECT_EQ(all[0].topic, "t/telemetry");
    EXPECT_EQ(all[0].payload, "sample");
    EXPECT_LT(all[0].seq, all[1].seq);
    EXPECT_EQ(spool->stats().stored, 1u);
    EXPECT_EQ(spool->stats().entries, 2u);
    EXPECT_EQ(spool->stats().oldest_ms, 1234);
}

TEST_P(SpoolSemantics, ATransactionKeepsWhatItDidWhenCommitted) {
    auto spool = open(bounded(SpoolWhenFull::drop_oldest));
    ASSERT_TRUE(spool->begin());
    EXPECT_TRUE(spool->in_transaction());
    for (int i = 0; i < 100; ++i) // past the bound: drop-oldest inside the transaction
        ASSERT_EQ(spool->append("t", payload(i, 999), i), SpoolStore::Append::stored);
    ASSERT_TRUE(spool->delivered(spool->last_seq()));
    ASSERT_TRUE(spool->commit());
    EXPECT_FALSE(spool->in_transaction());
    const auto &s = spool->stats();
    EXPECT_EQ(s.stored, 100u);
    EXPECT_EQ(s.delivered, 1u);
    EXPECT_EQ(s.entries + s.dropped_oldest + s.delivered, 100u);
    EXPECT_EQ(payloads(*spool).size(), s.entries);
    EXPECT_EQ(spool->last_rc(), 0);
}

INSTANTIATE_TEST_SUITE_P(Spool, SpoolSemantics, ::testing::Values(Store::file, Store::memory),
                         [](const auto &p) { return std::string(name_of(p.param)); });

// ---- A file only ------------------------------------------------------------------

TEST(Spool, EntriesSurviveReopening) {
    TempDir dir;
    {
        Spool spool(file_options(dir));
        for (int i = 0; i < 10; ++i)
            ASSERT_EQ(spool.append("t/results", payload(i), 1000 + i), Spool::Append::stored);
        auto first = spool.read_after(0, 3);
        spool.delivered(first[0].seq);
        spool.delivered(first[1].seq);
    }
    // What a restart (or a kill -9 after the commits) finds.
    Spool again(file_options(dir));
    EXPECT_EQ(again.stats().recovered, 8u);
    EXPECT_EQ(again.stats().bytes, 8u * (9 + 100));
    auto all = again.read_after(0, 100);
    ASSERT_EQ(all.size(), 8u);
    for (std::size_t i = 0; i < all.size(); ++i)
        EXPECT_EQ(all[i].payload, payload(static_cast<int>(i) + 2));
    // New entries get higher sequence numbers than anything before the restart.
    ASSERT_EQ(again.append("t", "new", 2000), Spool::Append::stored);
    EXPECT_GT(again.read_after(all.back().seq, 10).at(0).seq, all.back().seq);
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

TEST(Spool, AFileStoreNeedsAPath) {
    EXPECT_THROW(Spool spool(SpoolOptions{}), std::invalid_argument);
}

TEST(MemorySpool, SaysItLivesInMemory) {
    SpoolOptions o;
    o.path = "/somewhere/spool.db"; // not used
    MemorySpool spool(o);
    EXPECT_EQ(spool.where(), "memory");
    EXPECT_TRUE(spool.options().path.empty());
    EXPECT_FALSE(std::filesystem::exists(o.path));
}

} // namespace
