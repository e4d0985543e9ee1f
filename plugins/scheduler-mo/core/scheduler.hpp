// The multi-objective scheduler: options, predictions, a policy, and the decision.
//
// decide() for the weighted and latency policies is incremental and exact: for fixed
// profiles, power and weights each remote option's cost is a line in x = 1 / bandwidth of
// its tier, so each tier keeps the lower envelope of its lines (envelope.hpp) and a cursor
// walked from the last x to the new one; the end device's options differ only by a common
// local_queue_ms term, so their best is fixed. The light model's options, whose accuracy
// follows the per-task light_ok_probability, are evaluated directly each time. The
// lexicographic and constraints policies scan all options (a few hundred: microseconds).
//
// With policy.redecide_threshold > 0, decide() returns the last decision unchanged while
// no context input moved by more than that fraction since the last evaluation (online
// flags must match exactly); that trades exactness for less work. The default 0 always
// re-evaluates.
//
// Not thread-safe: decide() moves cursors and the cache; use one Scheduler per thread.
#pragma once

#include "core/envelope.hpp"
#include "core/options.hpp"
#include "core/policy.hpp"
#include "core/profiles.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scheduler_mo {

inline constexpr std::size_t kReasonMax = 120;

struct Decision {
    bool valid = false; // false: no option is feasible (every usable tier offline)
    std::size_t index = 0;
    Objectives predicted;
    // weighted/latency and force: the normalised weighted cost; constraints: the total
    // normalised violation (0 = met); lexicographic: 0.
    double cost = 0;
    bool constraints_met = true;
    bool forced = false; // policy.force placed it
    bool cached = false; // the previous decision, reused under redecide_threshold
    std::string reason;  // at most kReasonMax characters
};

struct DecideStats {
    std::uint64_t decisions = 0;
    std::uint64_t cached = 0;      // answered from the cache
    std::uint64_t incremental = 0; // answered through the envelopes
    std::uint64_t scans = 0;       // answered by scanning every option
    WalkStats walk;
};

class Scheduler {
  public:
    // Throws std::invalid_argument when the settings leave no option, or the power, the
    // reply size or the policy is bad.
    Scheduler(const ProfileSet &profiles, const Settings &settings, const DevicePower &power,
              const Policy &policy = Policy{});

    // Replaces the policy (validated first; on error nothing changes) and rebuilds the
    // envelopes for its weights.
    void set_policy(const Policy &policy);
    const Policy &policy() const { return policy_; }
    const Settings &settings() const { return settings_; }
    const DevicePower &power() const { return power_; }
    const Scales &scales() const { return scales_; }

    const std::vector<Option> &options() const { return options_; }
    std::optional<std::size_t> find(std::string_view name) const;
    bool feasible(std::size_t index, const Context &context) const;
    Objectives predict(std::size_t index, const Context &context) const;
    // The weighted cost of an option under the policy's effective weights.
    double cost(std::size_t index, const Context &context) const;

    Decision decide(const Context &context);
    // Every option scanned and the policy applied to their predictions: the reference
    // decide() must agree with.
    Decision decide_exhaustive(const Context &context) const;
    // The feasible options no other feasible option dominates, ascending indices.
    std::vector<std::size_t> pareto_front(const Context &context) const;

    const DecideStats &stats() const { return stats_; }
    // Lines on the envelope of a remote tier's non-light options (0 for the end tier).
    std::size_t envelope_size(Tier tier) const {
        return tier == Tier::end ? 0 : remote_[tier == Tier::cloud ? 1 : 0].envelope.size();
    }
    // Drops the cached decision (the next decide() evaluates).
    void forget() { has_last_ = false; }

  private:
    // A light-model option: its cost without the accuracy term.
    struct LightLine {
        std::size_t index;
        double intercept;
        double slope;
    };
    struct Remote {
        LowerEnvelope envelope;
        std::size_t cursor = 0;
    };

    void rebuild();
    Decision decide_incremental(const Context &context, const std::string &prefix);
    Decision decide_scan(const Context &context, std::vector<Candidate> &scratch,
                         const std::string &prefix) const;
    // force handling shared by both paths; returns true when `out` is final.
    bool apply_force(const Context &context, Decision &out, std::string &prefix) const;
    Decision make(std::size_t index, const Context &context, double cost, const std::string &prefix,
                  const char *label) const;
    Decision none_feasible(const Context &context, const std::string &prefix) const;
    bool moved(const Context &context) const;
    // Candidates for every feasible option, the context's terms worked out once per tier.
    void predict_feasible(const Context &context, std::vector<Candidate> &out) const;

    std::vector<Option> options_;
    Settings settings_;
    DevicePower power_;
    Policy policy_;
    Scales scales_;
    Weights weights_;                     // policy_.effective_weights()
    std::optional<std::size_t> forced_;   // policy_.force resolved
    std::array<Remote, 2> remote_;        // edge, cloud: the non-light options
    std::optional<std::size_t> end_best_; // the cheapest non-light end option
    double end_best_cost_ = 0;            // its cost without local_queue_ms
    std::vector<LightLine> light_;
    std::vector<Candidate> scratch_;
    bool has_last_ = false;
    Context last_context_;
    Decision last_;
    DecideStats stats_;
};

} // namespace scheduler_mo
