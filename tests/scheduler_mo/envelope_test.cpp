// The lower envelope against a brute-force minimum over random lines, queried by binary
// search and by cursor walks with small and large moves.
#include "core/envelope.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace {

using scheduler_mo::Line;
using scheduler_mo::LowerEnvelope;
using scheduler_mo::WalkStats;

double brute_min(const std::vector<Line> &lines, double x) {
    double best = HUGE_VAL;
    for (const Line &line : lines)
        best = std::min(best, line.intercept + line.slope * x);
    return best;
}

TEST(Envelope, MatchesBruteForceOnRandomLines) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> unit(0, 1);
    for (int round = 0; round < 200; ++round) {
        std::vector<Line> lines;
        int count = 1 + static_cast<int>(unit(rng) * 300);
        for (int i = 0; i < count; ++i) {
            // Some repeated slopes and lines, as options with equal bytes give.
            double slope = unit(rng) < 0.2 && !lines.empty() ? lines.back().slope
                                                             : std::exp(unit(rng) * 20 - 10);
            lines.push_back({unit(rng) * 10, slope, static_cast<std::uint32_t>(i)});
        }
        LowerEnvelope envelope(lines);
        ASSERT_FALSE(envelope.empty());
        for (std::size_t k = 1; k < envelope.size(); ++k) {
            EXPECT_GT(envelope.at(k - 1).slope, envelope.at(k).slope);
            EXPECT_LT(envelope.from(k - 1), envelope.from(k));
        }
        std::size_t cursor = 0;
        WalkStats stats;
        double x = std::exp(unit(rng) * 20 - 10);
        for (int q = 0; q < 200; ++q) {
            x = unit(rng) < 0.7 ? x * std::exp(unit(rng) * 0.1 - 0.05)
                                : std::exp(unit(rng) * 24 - 12);
            if (unit(rng) < 0.02)
                x = 0;
            double expected = brute_min(lines, x);
            const Line &walked = envelope.at(envelope.walk(x, cursor, stats));
            const Line &located = envelope.at(envelope.locate(x));
            double tolerance = 1e-12 * std::max(1.0, std::fabs(expected));
            EXPECT_NEAR(walked.intercept + walked.slope * x, expected, tolerance);
            EXPECT_NEAR(located.intercept + located.slope * x, expected, tolerance);
            EXPECT_EQ(cursor, envelope.locate(x));
        }
    }
}

TEST(Envelope, DropsLinesNeverLowestOnNonNegativeX) {
    // y = 4x leads from 0, y = 1 + 3x from x = 1, y = 10 from x = 3; y = 5 + 10x never.
    LowerEnvelope envelope({{5, 10, 0}, {0, 4, 1}, {1, 3, 2}, {10, 0, 3}});
    ASSERT_EQ(envelope.size(), 3u);
    EXPECT_EQ(envelope.at(0).id, 1u);
    EXPECT_EQ(envelope.at(1).id, 2u);
    EXPECT_DOUBLE_EQ(envelope.from(1), 1.0);
    EXPECT_EQ(envelope.at(2).id, 3u);
    EXPECT_DOUBLE_EQ(envelope.from(2), 3.0);
    // A line that is lowest only for x < 0 goes.
    LowerEnvelope positive({{0, 1, 0}, {1, 2, 1}}); // the second leads for x < -1
    ASSERT_EQ(positive.size(), 1u);
    EXPECT_EQ(positive.at(0).id, 0u);
}

TEST(Envelope, SmallMovesWalkLargeMovesSearch) {
    std::vector<Line> lines;
    // Tangents of the concave 2*sqrt(x): y = k + x / k leads on [(k - 1) k, k (k + 1)].
    for (int k = 1; k <= 100; ++k)
        lines.push_back({static_cast<double>(k), 1.0 / k, static_cast<std::uint32_t>(k - 1)});
    LowerEnvelope envelope(lines);
    ASSERT_EQ(envelope.size(), 100u);
    std::size_t cursor = 0;
    WalkStats stats;
    envelope.walk(49.5 * 50.5, cursor, stats); // a jump across half the envelope
    EXPECT_EQ(stats.searches, 1u);
    EXPECT_EQ(envelope.at(cursor).id, 49u);
    stats = {};
    envelope.walk(50.5 * 51.5, cursor, stats); // next segment: one step
    EXPECT_EQ(stats.steps, 1u);
    EXPECT_EQ(stats.searches, 0u);
    EXPECT_EQ(envelope.at(cursor).id, 50u);
}

} // namespace
