// SharedHopBound: the edge's and the cloud's paths begin with the same hop — the end's one
// MQTT connection to the broker, its uplink — so a drop of that hop shows on whichever
// tier's traffic crosses it first. The cloud's traffic is rare where the edge serves most
// tasks, and its probes are paced to a small share of the link: its estimate can trail a
// drop the edge's replies measured seconds ago, and the scheduler then sends tasks to the
// cloud at a speed the uplink no longer has (bench/scheduler's stream at 9d4ce43: 5 tasks
// 59 ms over their prediction at the end of the ramp).
//
// So: when one tier's bandwidth estimate has fallen more than drop_factor below what it
// was when the other's was last checked (and settled: no outlier awaiting confirmation),
// the other is taken as at most the fallen estimate until it is checked again, and is due
// a probe now. The drop may be on a hop of the first tier's own (its agent's connection);
// then the bound is wrong until that probe answers, and errs on the safe side: a task run
// here that could have gone up, not one that misses its deadline up there. A rise is not
// passed on (the other path may have a slower hop of its own), only probed.
//
// Pure computation, time passed in (ns, monotonic); loop thread.
#pragma once

#include "agent/pipeline/link_estimator.hpp"

#include <cstdint>

namespace tierd {

class SharedHopBound {
  public:
    // A fall of more than this factor since the other tier's check passes on. Between 1
    // (every wobble) and LinkEstimator's outlier_factor (2: a step of one tier's own).
    static constexpr double kDropFactor = 1.5;

    // After any sample of either tier's link: for a tier whose bandwidth was checked since
    // the last call, and settled, remembers the other's bandwidth as it is now. `links`:
    // the edge's [0] and the cloud's [1] estimates, now.
    void observe(const LinkEstimator::Estimate (&links)[2]);

    // The bound on tier `slot`'s bandwidth (bits/s), 0 when none holds: the other tier's
    // estimate, when it has fallen more than kDropFactor since `slot` was last checked.
    double bound(int slot, const LinkEstimator::Estimate (&links)[2]) const;

    // Whether a bound holds on `slot`: it asks for a bandwidth probe.
    bool bounded(int slot, const LinkEstimator::Estimate (&links)[2]) const {
        return bound(slot, links) > 0.0;
    }

  private:
    struct Reference {
        bool known = false;
        std::uint64_t checked_ns = 0; // the tier's check it belongs to
        double other_bps = 0;         // the other tier's bandwidth estimate then
    };
    Reference reference_[2];
};

} // namespace tierd
