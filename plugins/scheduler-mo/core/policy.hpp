// How the scheduler weighs latency, energy, bytes and accuracy against each other.
//
//   weighted       minimise w_latency*latency/L0 + w_energy*energy/E0 + w_bytes*bytes/B0
//                  + w_accuracy*(1 - accuracy)/A0. The scales are fixed per profile set,
//                  not per context, so that each remote option's cost stays a line in
//                  1/bandwidth (what the incremental re-decision relies on): L0 and E0 are
//                  the end-only latency (without queue) and energy of the most accurate
//                  model on the end device (fallback 1 ms, 1 mJ), B0 its input_bytes
//                  (fallback 1000), A0 = 0.01, i.e. one point of accuracy.
//   latency        weighted with w_latency = 1 alone (Neurosurgeon-like).
//   lexicographic  objectives in order, each with a relative tolerance: keep the options
//                  within (1 + tol) of the best on the first (accuracy: at least
//                  best / (1 + tol)), then the next...; the best on the last one wins.
//   constraints    deadline_ms, min_accuracy, max_energy_j (0 = none); minimise `minimise`
//                  among options meeting all of them, or energy while battery_fraction >= 0
//                  is below battery_floor. None meets them: the least total violation, each
//                  normalised by its limit ((latency - deadline) / deadline ...).
// Ties go to lower latency, then energy, bytes, higher accuracy, then the lower option
// index; so with positive weights (and for lexicographic and constraints, always) the
// winner is on the Pareto front.
#pragma once

#include "core/config_map.hpp"
#include "core/options.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scheduler_mo {

enum class Objective : std::uint8_t { latency, energy, bytes, accuracy };
const char *objective_name(Objective objective);
std::optional<Objective> parse_objective(std::string_view text);

enum class PolicyKind : std::uint8_t { weighted, lexicographic, constraints, latency };
const char *policy_name(PolicyKind kind);
std::optional<PolicyKind> parse_policy_kind(std::string_view text);

struct Weights {
    double latency = 1;
    double energy = 1;
    double bytes = 1;
    double accuracy = 1;
};

struct LexStep {
    Objective objective = Objective::latency;
    double tolerance = 0.02; // relative
};

struct Policy {
    PolicyKind kind = PolicyKind::weighted;
    Weights weights; // weighted
    std::vector<LexStep> order{{Objective::latency, 0.02}, {Objective::energy, 0.02}};
    double deadline_ms = 0;  // constraints; 0 = none
    double min_accuracy = 0; // 0 = none
    double max_energy_j = 0; // 0 = none
    double battery_floor = 0;
    Objective minimise = Objective::latency;
    std::string force; // an option name to pin; "" = none
    // Reuse the last decision while no context input moved by more than this (relative).
    // 0 = always re-evaluate (exact); > 0 trades exactness for less work.
    double redecide_threshold = 0;

    // Throws std::invalid_argument naming the bad field.
    void validate() const;
    // The weights the weighted machinery uses: `weights`, or latency alone.
    Weights effective_weights() const;
};

// Keys: policy (weighted|lexicographic|constraints|latency), w_latency, w_energy, w_bytes,
// w_accuracy, order ("latency,energy:0.05"; an item without ":tol" takes `tolerance`),
// tolerance (default 0.02), deadline_ms, min_accuracy, max_energy_j, battery_floor,
// minimise (or minimize), force, redecide_threshold. Absent keys keep their defaults;
// other keys are ignored (the plugin's map holds its other settings too). The result is
// validated; errors (std::invalid_argument) name the key and the bad value.
Policy parse_policy(const ConfigMap &map);

struct Scales {
    double latency_ms = 1;
    double energy_j = 0.001;
    double bytes = 1000;
    double accuracy = 0.01;
};

Scales reference_scales(const ProfileSet &profiles, const Settings &settings,
                        const DevicePower &power);

// The weights divided by their scales, worked out once: cost = latency * factors.latency +
// energy * factors.energy + bytes * factors.bytes + (1 - accuracy) * factors.accuracy.
struct CostFactors {
    double latency = 0;
    double energy = 0;
    double bytes = 0;
    double accuracy = 0;
};
CostFactors cost_factors(const Weights &weights, const Scales &scales);

inline double weighted_cost(const Objectives &o, const CostFactors &f) {
    return o.latency_ms * f.latency + o.energy_j * f.energy + o.bytes * f.bytes +
           (1 - o.accuracy) * f.accuracy;
}
inline double weighted_cost(const Objectives &o, const Weights &weights, const Scales &scales) {
    return weighted_cost(o, cost_factors(weights, scales));
}
// Accuracy as it is (higher is better); the others as they are (lower is better).
double objective_value(const Objectives &objectives, Objective objective);
// The order in which ties are broken: lower latency, energy, bytes, higher accuracy, then
// the lower index.
bool tie_break_before(const Objectives &a, std::size_t a_index, const Objectives &b,
                      std::size_t b_index);

struct Candidate {
    std::size_t index = 0; // the option's index
    Objectives objectives;
};

struct Choice {
    std::size_t position = 0; // into the candidates
    double cost = 0;          // weighted: the cost; constraints: the violation (0 when met)
    bool constraints_met = true;
    bool battery_low = false;
    Objective minimised = Objective::latency;
};

// The policy's pick among non-empty `candidates` (force is the scheduler's business).
Choice choose(const Policy &policy, const Scales &scales, const Context &context,
              const std::vector<Candidate> &candidates);

} // namespace scheduler_mo
