// The spool on a disk that fills (a small tmpfs; root only, else skipped): a delete that
// could not be committed is not counted as delivered, and the counters stay what is on
// disk (issue 15, item 3).
#include "agent/spool/spool.hpp"
#include "spool_test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using tierd::Spool;
using tierd::SpoolOptions;
using tierd::spool_test::rows_on_disk;
using tierd::spool_test::SmallDisk;

TEST(SpoolFullDisk, AFailedDeleteIsNotCountedAsDelivered) {
    SmallDisk disk(8 << 20);
    if (!disk.mounted)
        GTEST_SKIP() << "needs root to mount a tmpfs";
    SpoolOptions o;
    o.path = (disk.path / "spool.db").string();
    Spool spool(o);
    // Fewer pages than the WAL's auto-checkpoint: every commit appends to the WAL.
    for (int i = 0; i < 40; ++i)
        ASSERT_EQ(spool.append("t", std::string(1000, 'r'), i), Spool::Append::stored);
    const auto entries = spool.read_after(0, 40);
    ASSERT_EQ(entries.size(), 40u);
    // Fill the disk, the spool's reserve file included: nothing more can be written.
    std::filesystem::remove(o.path + ".reserve");
    disk.fill();
    int said_done = 0;
    for (int i = 0; i < 5; ++i)
        said_done += spool.delivered(entries[static_cast<std::size_t>(i)].seq) ? 1 : 0;
    const auto on_disk = rows_on_disk(o.path);
    ASSERT_GE(on_disk, 0);
    const auto &s = spool.stats();
    // What the spool says it holds and delivered is what the file holds.
    EXPECT_EQ(static_cast<std::int64_t>(s.entries), on_disk);
    EXPECT_EQ(s.delivered, 40u - static_cast<std::uint64_t>(on_disk));
    EXPECT_EQ(static_cast<std::uint64_t>(said_done), s.delivered)
        << "delivered() said the delete was done";
}

} // namespace
