// The per-stream state table both video fusion plugins keep (plugins/fusion-track/
// stream_table.hpp): one state per stream, made once, and beyond the capacity the least
// recently fused stream is the one dropped.
#include "plugins/fusion-track/stream_table.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(StreamTable, KeepsOneStatePerStreamAndDropsTheLeastRecentlyUsed) {
    fusion_track::StreamTable<int> table;
    table.set_capacity(2);
    int made = 0;
    auto make = [&made] { return ++made * 10; };
    bool dropped = true;
    EXPECT_EQ(table.get("a", make, dropped), 10);
    EXPECT_FALSE(dropped);
    EXPECT_EQ(table.get("b", make, dropped), 20);
    table.get("a", make, dropped) += 1; // state persists between calls; "a" used last
    EXPECT_EQ(table.get("a", make, dropped), 11);
    EXPECT_EQ(made, 2);
    EXPECT_EQ(table.get("c", make, dropped), 30); // full: "b" is the least recently used
    EXPECT_TRUE(dropped);
    EXPECT_EQ(table.get("a", make, dropped), 11);
    EXPECT_FALSE(dropped);
    EXPECT_EQ(table.get("b", make, dropped), 40); // made again: it had been dropped
    EXPECT_TRUE(dropped);                         // and "c" went for it
    table.clear();
    EXPECT_EQ(table.get("a", make, dropped), 50);
}

} // namespace
