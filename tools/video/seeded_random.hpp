// The generator's only source of randomness: std::mt19937_64 (whose output sequence the C++
// standard fixes) with the mappings to ranges written out here. The standard's
// distributions (uniform_real_distribution, normal_distribution, ...) are
// implementation-defined, so a video made with them could change with the C++ library;
// these mappings use only integer operations and IEEE double +, -, *, so one seed gives the
// same numbers with any conforming compiler and library.
#pragma once

#include <cstdint>
#include <random>

namespace tierd::videogen {

// One stream of numbers. Not thread-safe: one owner.
class SeededRandom {
  public:
    explicit SeededRandom(uint64_t seed) : engine_(seed) {}

    uint64_t next_u64() { return engine_(); }

    // Uniform in [0, 1): the top 53 bits of one draw.
    double uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

    // Uniform in [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }

    // Uniform in [-magnitude, magnitude).
    double symmetric(double magnitude) { return uniform(-magnitude, magnitude); }

    // Uniform integer in [lo, hi] (inclusive), unbiased (rejection of the top partial range).
    int64_t uniform_int(int64_t lo, int64_t hi) {
        if (hi <= lo)
            return lo;
        const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
        if (span == 0) // the whole 64-bit range
            return static_cast<int64_t>(engine_());
        const uint64_t limit = UINT64_MAX - (UINT64_MAX % span + 1) % span;
        uint64_t draw = engine_();
        while (draw > limit)
            draw = engine_();
        return static_cast<int64_t>(static_cast<uint64_t>(lo) + draw % span);
    }

    // True with probability p.
    bool chance(double p) { return uniform01() < p; }

    // Approximately standard normal (mean 0, variance 1, range +-3.46): the Irwin-Hall sum of
    // four uniforms, scaled. Only sensor noise uses it; no transcendental functions involved.
    double approx_normal() {
        const double sum = uniform01() + uniform01() + uniform01() + uniform01();
        return (sum - 2.0) * 1.7320508075688772; // sqrt(3): variance of the sum is 4/12
    }

  private:
    std::mt19937_64 engine_;
};

// An independent seed for one named part of the generator (`stream`): SplitMix64 of the
// pair, so that e.g. the object plan does not shift when the effects draw more numbers.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

} // namespace tierd::videogen
