#include "core/envelope.hpp"

#include <algorithm>
#include <cmath>

namespace scheduler_mo {

namespace {

// Where b (the smaller slope) becomes lower than a.
double crossing(const Line &a, const Line &b) {
    return (b.intercept - a.intercept) / (a.slope - b.slope);
}

} // namespace

LowerEnvelope::LowerEnvelope(std::vector<Line> lines) {
    std::sort(lines.begin(), lines.end(), [](const Line &a, const Line &b) {
        if (a.slope != b.slope)
            return a.slope > b.slope;
        if (a.intercept != b.intercept)
            return a.intercept < b.intercept;
        return a.id < b.id;
    });
    for (const Line &line : lines) {
        if (!hull_.empty() && hull_.back().slope == line.slope)
            continue; // parallel and not lower: never the minimum
        double x = -HUGE_VAL;
        while (!hull_.empty()) {
            x = crossing(hull_.back(), line);
            // The new line undercuts the last one before the last one ever led: drop it.
            if (hull_.size() >= 2 && x <= from_.back()) {
                hull_.pop_back();
                from_.pop_back();
                continue;
            }
            break;
        }
        from_.push_back(hull_.empty() ? -HUGE_VAL : x);
        hull_.push_back(line);
    }
    // Only x >= 0 matters (x = 1 / bandwidth): drop lines that lead only at negative x.
    std::size_t first = 0;
    while (first + 1 < hull_.size() && from_[first + 1] <= 0)
        ++first;
    hull_.erase(hull_.begin(), hull_.begin() + static_cast<std::ptrdiff_t>(first));
    from_.erase(from_.begin(), from_.begin() + static_cast<std::ptrdiff_t>(first));
    if (!from_.empty())
        from_[0] = -HUGE_VAL;
}

std::size_t LowerEnvelope::locate(double x) const {
    // The last position whose range starts at or before x.
    auto it = std::upper_bound(from_.begin(), from_.end(), x);
    return it == from_.begin() ? 0 : static_cast<std::size_t>(it - from_.begin()) - 1;
}

std::size_t LowerEnvelope::walk(double x, std::size_t &cursor, WalkStats &stats) const {
    std::size_t at = std::min(cursor, hull_.size() - 1);
    for (int step = 0;; ++step) {
        bool below = x < from_[at];
        bool above = at + 1 < hull_.size() && x >= from_[at + 1];
        if (!below && !above)
            break;
        if (step == kMaxSteps) {
            ++stats.searches;
            at = locate(x);
            break;
        }
        ++stats.steps;
        at = below ? at - 1 : at + 1;
    }
    cursor = at;
    return at;
}

} // namespace scheduler_mo
