#include "core/pareto.hpp"

#include <algorithm>

namespace scheduler_mo {

bool dominates(const Objectives &a, const Objectives &b) {
    bool no_worse = a.latency_ms <= b.latency_ms && a.energy_j <= b.energy_j &&
                    a.bytes <= b.bytes && a.accuracy >= b.accuracy;
    bool better = a.latency_ms < b.latency_ms || a.energy_j < b.energy_j || a.bytes < b.bytes ||
                  a.accuracy > b.accuracy;
    return no_worse && better;
}

std::vector<std::size_t> pareto_front(const std::vector<Candidate> &candidates) {
    std::vector<std::size_t> front;
    for (const Candidate &candidate : candidates) {
        bool dominated =
            std::any_of(candidates.begin(), candidates.end(), [&](const Candidate &other) {
                return dominates(other.objectives, candidate.objectives);
            });
        if (!dominated)
            front.push_back(candidate.index);
    }
    std::sort(front.begin(), front.end());
    return front;
}

} // namespace scheduler_mo
