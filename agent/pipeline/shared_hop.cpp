#include "agent/pipeline/shared_hop.hpp"

namespace tierd {

void SharedHopBound::observe(const LinkEstimator::Estimate (&links)[2]) {
    for (int slot = 0; slot < 2; ++slot) {
        const LinkEstimator::Estimate &mine = links[slot];
        const LinkEstimator::Estimate &other = links[1 - slot];
        Reference &ref = reference_[slot];
        // An unconfirmed outlier is no check yet: the estimate may still jump (to the
        // drop the other tier saw, typically); the bound holds until it settles.
        if (mine.bandwidth_age_ms < 0.0 || mine.bandwidth_unconfirmed || !(mine.bandwidth_bps > 0))
            continue;
        if (ref.known && ref.checked_ns == mine.bandwidth_checked_ns)
            continue;
        ref.known = true;
        ref.checked_ns = mine.bandwidth_checked_ns;
        ref.other_bps = other.bandwidth_bps;
    }
}

double SharedHopBound::bound(int slot, const LinkEstimator::Estimate (&links)[2]) const {
    const Reference &ref = reference_[slot];
    const double other_now = links[1 - slot].bandwidth_bps;
    if (!ref.known || !(ref.other_bps > 0.0) || !(other_now > 0.0))
        return 0.0;
    if (other_now * kDropFactor >= ref.other_bps)
        return 0.0;
    return other_now;
}

} // namespace tierd
