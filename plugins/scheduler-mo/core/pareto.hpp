// Pareto dominance over (latency min, energy min, bytes min, accuracy max).
#pragma once

#include "core/policy.hpp"

#include <cstddef>
#include <vector>

namespace scheduler_mo {

// a is no worse than b on every objective and better on at least one.
bool dominates(const Objectives &a, const Objectives &b);

// The option indices of the candidates no other candidate dominates, ascending. O(n^2):
// it serves tests and diagnostics, not the decision path.
std::vector<std::size_t> pareto_front(const std::vector<Candidate> &candidates);

} // namespace scheduler_mo
