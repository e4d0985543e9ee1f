// The lower envelope of lines y = intercept + slope * x over x >= 0 (the convex-hull trick).
//
// For fixed profiles, power and weights, every option on one remote tier costs
// intercept + slope * x with x = 1 / bandwidth of that tier (rtt and queue add the same
// constant to all of them), so the cheapest option at any bandwidth is the envelope's line
// at x. The envelope is immutable; the caller keeps a cursor per tier and walk() moves it
// from the previous x to the new one: a few steps for the small moves that bandwidth
// estimates make, a binary search for bigger jumps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace scheduler_mo {

struct Line {
    double intercept = 0;
    double slope = 0;
    std::uint32_t id = 0; // the caller's (the option index)
};

struct WalkStats {
    std::uint64_t steps = 0;    // single moves of a cursor
    std::uint64_t searches = 0; // binary searches after a big jump
};

class LowerEnvelope {
  public:
    // Single steps a walk takes before it falls back to a binary search.
    static constexpr int kMaxSteps = 4;

    LowerEnvelope() = default;
    // Any lines, any order. Of lines with the same slope the lowest stays (then the lowest
    // id); lines that are nowhere strictly lowest on x >= 0 are dropped.
    explicit LowerEnvelope(std::vector<Line> lines);

    bool empty() const { return hull_.empty(); }
    std::size_t size() const { return hull_.size(); }
    // Envelope lines by position, slopes decreasing; position k is lowest on
    // [from(k), from(k + 1)).
    const Line &at(std::size_t position) const { return hull_[position]; }
    double from(std::size_t position) const { return from_[position]; }

    // The position lowest at x; binary search.
    std::size_t locate(double x) const;
    // The same, starting from *cursor and leaving it at the answer. Needs !empty().
    std::size_t walk(double x, std::size_t &cursor, WalkStats &stats) const;

  private:
    std::vector<Line> hull_;
    std::vector<double> from_; // from_[0] = -inf
};

} // namespace scheduler_mo
