// The generator's random mappings: fixed by their definition, not by the C++ library.
#include "tools/video/seeded_random.hpp"

#include <gtest/gtest.h>

#include <array>

namespace tierd::videogen {
namespace {

TEST(SeededRandom, EngineIsTheStandardMt19937_64) {
    SeededRandom random(5489); // the standard's default seed
    uint64_t draw = 0;
    for (int i = 0; i < 10000; ++i)
        draw = random.next_u64();
    EXPECT_EQ(draw, 9981545732273789042ULL); // [rand.predef]: the 10000th value
}

TEST(SeededRandom, Uniform01IsTheTop53Bits) {
    SeededRandom a(42), b(42);
    for (int i = 0; i < 1000; ++i) {
        const uint64_t bits = a.next_u64() >> 11;
        const double u = b.uniform01();
        EXPECT_EQ(u, static_cast<double>(bits) / 9007199254740992.0);
        EXPECT_GE(u, 0.0);
        EXPECT_LT(u, 1.0);
    }
}

TEST(SeededRandom, UniformIntCoversItsRangeEvenly) {
    SeededRandom random(7);
    std::array<int, 6> seen{};
    for (int i = 0; i < 60000; ++i) {
        const int64_t v = random.uniform_int(-2, 3);
        ASSERT_GE(v, -2);
        ASSERT_LE(v, 3);
        ++seen[static_cast<size_t>(v + 2)];
    }
    for (int count : seen)
        EXPECT_NEAR(count, 10000, 400);
    EXPECT_EQ(random.uniform_int(5, 5), 5);
}

TEST(SeededRandom, ApproxNormalHasUnitVariance) {
    SeededRandom random(9);
    double sum = 0, squares = 0;
    constexpr int n = 100000;
    for (int i = 0; i < n; ++i) {
        const double v = random.approx_normal();
        ASSERT_LE(std::fabs(v), 3.47);
        sum += v;
        squares += v * v;
    }
    EXPECT_NEAR(sum / n, 0, 0.02);
    EXPECT_NEAR(squares / n, 1, 0.02);
}

TEST(SeededRandom, DerivedSeedsDifferPerStream) {
    EXPECT_NE(derive_seed(1, 1), derive_seed(1, 2));
    EXPECT_NE(derive_seed(1, 1), derive_seed(2, 1));
    EXPECT_EQ(derive_seed(1, 1), derive_seed(1, 1));
}

} // namespace
} // namespace tierd::videogen
