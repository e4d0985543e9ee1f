// box_overlap: COCO's bbox IoU, including its crowd rule.
#include "tools/eval/box_overlap.hpp"

#include <gtest/gtest.h>

namespace tierd::eval {
namespace {

TEST(BoxOverlap, IdenticalBoxesOverlapFully) {
    EXPECT_DOUBLE_EQ(box_overlap({10, 20, 30, 40}, {10, 20, 30, 40}, false), 1.0);
}

TEST(BoxOverlap, IsIntersectionOverUnion) {
    // [0,0,100,100] and [50,0,100,100]: intersection 50×100 = 5000, union 15000.
    EXPECT_DOUBLE_EQ(box_overlap({0, 0, 100, 100}, {50, 0, 100, 100}, false), 5000.0 / 15000.0);
    // A box inside another: 55×100 / 100×100.
    EXPECT_DOUBLE_EQ(box_overlap({0, 0, 100, 55}, {0, 0, 100, 100}, false), 0.55);
}

TEST(BoxOverlap, BoxesThatOnlyTouchDoNotOverlap) {
    EXPECT_EQ(box_overlap({0, 0, 10, 10}, {10, 0, 10, 10}, false), 0.0);
    EXPECT_EQ(box_overlap({0, 0, 10, 10}, {0, 10, 10, 10}, false), 0.0);
    EXPECT_EQ(box_overlap({0, 0, 10, 10}, {50, 50, 10, 10}, false), 0.0);
}

TEST(BoxOverlap, EmptyBoxesOverlapNothing) {
    EXPECT_EQ(box_overlap({5, 5, 0, 0}, {0, 0, 10, 10}, false), 0.0);
    EXPECT_EQ(box_overlap({5, 5, 0, 0}, {0, 0, 10, 10}, true), 0.0);
}

TEST(BoxOverlap, AgainstACrowdDividesByTheDetectionArea) {
    // A 10×10 detection inside a 100×100 crowd: 100 / 100 = 1, not 100 / 10000.
    EXPECT_DOUBLE_EQ(box_overlap({20, 20, 10, 10}, {0, 0, 100, 100}, true), 1.0);
    EXPECT_DOUBLE_EQ(box_overlap({20, 20, 10, 10}, {0, 0, 100, 100}, false), 0.01);
    // Half outside the crowd: intersection 50, detection area 100.
    EXPECT_DOUBLE_EQ(box_overlap({95, 0, 10, 10}, {0, 0, 100, 100}, true), 0.5);
}

} // namespace
} // namespace tierd::eval
