#include "tools/drift/source_order.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace tierd::drift {
namespace {

bool is_permutation_of_range(std::vector<uint32_t> part, uint32_t n) {
    std::vector<uint32_t> all(n);
    std::iota(all.begin(), all.end(), 0u);
    std::sort(part.begin(), part.end());
    return part == all;
}

TEST(SourceOrder, UsesEveryImageOnceBeforeAnyRepeats) {
    const auto order = draw_source_order(100, 250, 42);
    ASSERT_EQ(order.size(), 250u);
    EXPECT_TRUE(is_permutation_of_range({order.begin(), order.begin() + 100}, 100));
    EXPECT_TRUE(is_permutation_of_range({order.begin() + 100, order.begin() + 200}, 100));
    const std::set<uint32_t> last(order.begin() + 200, order.end());
    EXPECT_EQ(last.size(), 50u);
    // Each epoch is a fresh shuffle, not the first one again.
    EXPECT_FALSE(std::equal(order.begin(), order.begin() + 100, order.begin() + 100));
}

TEST(SourceOrder, IsShuffled) {
    const auto order = draw_source_order(1000, 1000, 1);
    std::vector<uint32_t> identity(1000);
    std::iota(identity.begin(), identity.end(), 0u);
    EXPECT_NE(order, identity);
}

TEST(SourceOrder, APrefixDoesNotDependOnTheTotal) {
    const auto short_order = draw_source_order(100, 30, 9);
    const auto long_order = draw_source_order(100, 250, 9);
    EXPECT_TRUE(std::equal(short_order.begin(), short_order.end(), long_order.begin()));
}

TEST(SourceOrder, DependsOnTheSeedOnly) {
    EXPECT_EQ(draw_source_order(500, 700, 3), draw_source_order(500, 700, 3));
    EXPECT_NE(draw_source_order(500, 700, 3), draw_source_order(500, 700, 4));
}

TEST(SourceOrder, OneSourceImageRepeats) {
    EXPECT_EQ(draw_source_order(1, 3, 5), (std::vector<uint32_t>{0, 0, 0}));
}

} // namespace
} // namespace tierd::drift
