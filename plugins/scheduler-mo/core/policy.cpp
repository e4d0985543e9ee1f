#include "core/policy.hpp"

#include "core/setting_checks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace scheduler_mo {

const char *objective_name(Objective objective) {
    switch (objective) {
    case Objective::latency: return "latency";
    case Objective::energy: return "energy";
    case Objective::bytes: return "bytes";
    case Objective::accuracy: return "accuracy";
    }
    return "?";
}

std::optional<Objective> parse_objective(std::string_view text) {
    for (Objective objective :
         {Objective::latency, Objective::energy, Objective::bytes, Objective::accuracy})
        if (text == objective_name(objective))
            return objective;
    return std::nullopt;
}

const char *policy_name(PolicyKind kind) {
    switch (kind) {
    case PolicyKind::weighted: return "weighted";
    case PolicyKind::lexicographic: return "lexicographic";
    case PolicyKind::constraints: return "constraints";
    case PolicyKind::latency: return "latency";
    }
    return "?";
}

std::optional<PolicyKind> parse_policy_kind(std::string_view text) {
    for (PolicyKind kind : {PolicyKind::weighted, PolicyKind::lexicographic,
                            PolicyKind::constraints, PolicyKind::latency})
        if (text == policy_name(kind))
            return kind;
    return std::nullopt;
}

namespace {

using checks::number_text;
using checks::require;

void check_range(const char *key, double value, double low, double high, const char *range) {
    require(std::isfinite(value) && value >= low && value <= high,
            std::string(key) + ": must be " + range + ", got " + number_text(value));
}

constexpr double kInf = HUGE_VAL;

} // namespace

void Policy::validate() const {
    check_range("w_latency", weights.latency, 0, kInf, ">= 0");
    check_range("w_energy", weights.energy, 0, kInf, ">= 0");
    check_range("w_bytes", weights.bytes, 0, kInf, ">= 0");
    check_range("w_accuracy", weights.accuracy, 0, kInf, ">= 0");
    if (kind == PolicyKind::weighted)
        require(weights.latency + weights.energy + weights.bytes + weights.accuracy > 0,
                "weights: w_latency, w_energy, w_bytes, w_accuracy are all 0");
    if (kind == PolicyKind::lexicographic)
        require(!order.empty(), "order: name at least one objective");
    for (std::size_t i = 0; i < order.size(); ++i) {
        check_range("order tolerance", order[i].tolerance, 0, kInf, ">= 0");
        for (std::size_t j = 0; j < i; ++j)
            require(order[j].objective != order[i].objective,
                    std::string("order: ") + objective_name(order[i].objective) + " appears twice");
    }
    check_range("deadline_ms", deadline_ms, 0, kInf, ">= 0 (0 = none)");
    check_range("min_accuracy", min_accuracy, 0, 1, "in [0, 1] (0 = none)");
    check_range("max_energy_j", max_energy_j, 0, kInf, ">= 0 (0 = none)");
    check_range("battery_floor", battery_floor, 0, 1, "in [0, 1] (0 = none)");
    check_range("redecide_threshold", redecide_threshold, 0, kInf, ">= 0");
}

Weights Policy::effective_weights() const {
    if (kind == PolicyKind::latency)
        return Weights{1, 0, 0, 0};
    return weights;
}

Policy parse_policy(const ConfigMap &map) {
    Policy policy;
    if (auto kind = get_string(map, "policy")) {
        std::optional<PolicyKind> parsed = parse_policy_kind(*kind);
        require(parsed.has_value(), "policy: unknown policy \"" + *kind +
                                        "\" (expected weighted, lexicographic, constraints, "
                                        "latency)");
        policy.kind = *parsed;
    }
    auto number = [&](const char *key, double &field) {
        if (auto value = get_number(map, key))
            field = *value;
    };
    number("w_latency", policy.weights.latency);
    number("w_energy", policy.weights.energy);
    number("w_bytes", policy.weights.bytes);
    number("w_accuracy", policy.weights.accuracy);
    double tolerance = 0.02;
    number("tolerance", tolerance);
    check_range("tolerance", tolerance, 0, kInf, ">= 0");
    for (LexStep &step : policy.order)
        step.tolerance = tolerance;
    if (auto order = get_string(map, "order")) {
        policy.order.clear();
        for (const std::string &item : split_list(*order)) {
            std::size_t colon = item.find(':');
            std::string name = item.substr(0, colon);
            std::optional<Objective> objective = parse_objective(name);
            require(objective.has_value(), "order: unknown objective \"" + name +
                                               "\" (expected latency, energy, bytes, accuracy)");
            LexStep step{*objective, tolerance};
            if (colon != std::string::npos) {
                ConfigMap one{{"order tolerance of " + name, item.substr(colon + 1)}};
                step.tolerance = *get_number(one, "order tolerance of " + name);
            }
            policy.order.push_back(step);
        }
    }
    number("deadline_ms", policy.deadline_ms);
    number("min_accuracy", policy.min_accuracy);
    number("max_energy_j", policy.max_energy_j);
    number("battery_floor", policy.battery_floor);
    for (const char *key : {"minimise", "minimize"})
        if (auto minimise = get_string(map, key)) {
            std::optional<Objective> objective = parse_objective(*minimise);
            require(objective.has_value(), std::string(key) + ": unknown objective \"" + *minimise +
                                               "\" (expected latency, energy, bytes, accuracy)");
            policy.minimise = *objective;
        }
    if (auto force = get_string(map, "force"))
        policy.force = *force;
    number("redecide_threshold", policy.redecide_threshold);
    policy.validate();
    return policy;
}

Scales reference_scales(const ProfileSet &profiles, const Settings &settings,
                        const DevicePower &power) {
    Scales scales;
    const ModelProfile *best = nullptr;
    for (const ModelProfile &model : profiles.end.models)
        if (model.detector == settings.detectors && settings.allows_model(model.name) &&
            (best == nullptr || model.accuracy() > best->accuracy()))
            best = &model;
    if (best == nullptr)
        return scales;
    if (best->full_ms > 0)
        scales.latency_ms = best->full_ms;
    if (power.compute_w * best->full_ms > 0)
        scales.energy_j = power.compute_w * best->full_ms / 1000;
    scales.bytes = static_cast<double>(best->input_bytes);
    return scales;
}

CostFactors cost_factors(const Weights &w, const Scales &s) {
    return CostFactors{w.latency / s.latency_ms, w.energy / s.energy_j, w.bytes / s.bytes,
                       w.accuracy / s.accuracy};
}

double objective_value(const Objectives &o, Objective objective) {
    switch (objective) {
    case Objective::latency: return o.latency_ms;
    case Objective::energy: return o.energy_j;
    case Objective::bytes: return o.bytes;
    case Objective::accuracy: return o.accuracy;
    }
    return 0;
}

bool tie_break_before(const Objectives &a, std::size_t a_index, const Objectives &b,
                      std::size_t b_index) {
    if (a.latency_ms != b.latency_ms)
        return a.latency_ms < b.latency_ms;
    if (a.energy_j != b.energy_j)
        return a.energy_j < b.energy_j;
    if (a.bytes != b.bytes)
        return a.bytes < b.bytes;
    if (a.accuracy != b.accuracy)
        return a.accuracy > b.accuracy;
    return a_index < b_index;
}

namespace {

// Is a better than b on `objective`, ties broken by tie_break_before?
bool better_on(Objective objective, const Candidate &a, const Candidate &b) {
    double va = objective_value(a.objectives, objective);
    double vb = objective_value(b.objectives, objective);
    if (va != vb)
        return objective == Objective::accuracy ? va > vb : va < vb;
    return tie_break_before(a.objectives, a.index, b.objectives, b.index);
}

Choice choose_weighted(const CostFactors &factors, const std::vector<Candidate> &candidates) {
    Choice choice;
    choice.cost = weighted_cost(candidates[0].objectives, factors);
    for (std::size_t i = 1; i < candidates.size(); ++i) {
        double cost = weighted_cost(candidates[i].objectives, factors);
        const Candidate &held = candidates[choice.position];
        if (cost < choice.cost ||
            (cost == choice.cost && tie_break_before(candidates[i].objectives, candidates[i].index,
                                                     held.objectives, held.index))) {
            choice.position = i;
            choice.cost = cost;
        }
    }
    return choice;
}

Choice choose_lexicographic(const std::vector<LexStep> &order,
                            const std::vector<Candidate> &candidates) {
    std::vector<unsigned char> kept(candidates.size(), 1);
    // Every step but the last narrows the field to what is within its tolerance of the
    // best; the last picks its best (its tolerance could only let worse ones through).
    for (std::size_t step = 0; step + 1 < order.size(); ++step) {
        Objective objective = order[step].objective;
        bool maximise = objective == Objective::accuracy;
        double best = maximise ? -HUGE_VAL : HUGE_VAL;
        for (std::size_t i = 0; i < candidates.size(); ++i)
            if (kept[i]) {
                double value = objective_value(candidates[i].objectives, objective);
                best = maximise ? std::max(best, value) : std::min(best, value);
            }
        double slack = 1 + order[step].tolerance;
        for (std::size_t i = 0; i < candidates.size(); ++i) {
            double value = objective_value(candidates[i].objectives, objective);
            if (maximise ? value * slack < best : value > best * slack)
                kept[i] = 0;
        }
    }
    Objective last = order.back().objective;
    Choice choice;
    bool any = false;
    for (std::size_t i = 0; i < candidates.size(); ++i)
        if (kept[i] && (!any || better_on(last, candidates[i], candidates[choice.position]))) {
            choice.position = i;
            any = true;
        }
    choice.minimised = last;
    return choice;
}

Choice choose_constraints(const Policy &policy, const Context &context,
                          const std::vector<Candidate> &candidates) {
    Choice choice;
    choice.battery_low =
        context.battery_fraction >= 0 && context.battery_fraction < policy.battery_floor;
    choice.minimised = choice.battery_low ? Objective::energy : policy.minimise;
    // Violations normalised by their limits, so that they add up across units; 0 = met.
    auto violation = [&](const Objectives &o) {
        double total = 0;
        if (policy.deadline_ms > 0 && o.latency_ms > policy.deadline_ms)
            total += (o.latency_ms - policy.deadline_ms) / policy.deadline_ms;
        if (policy.min_accuracy > 0 && o.accuracy < policy.min_accuracy)
            total += (policy.min_accuracy - o.accuracy) / policy.min_accuracy;
        if (policy.max_energy_j > 0 && o.energy_j > policy.max_energy_j)
            total += (o.energy_j - policy.max_energy_j) / policy.max_energy_j;
        return total;
    };
    choice.cost = violation(candidates[0].objectives);
    for (std::size_t i = 1; i < candidates.size(); ++i) {
        double v = violation(candidates[i].objectives);
        if (v < choice.cost || (v == choice.cost && better_on(choice.minimised, candidates[i],
                                                              candidates[choice.position]))) {
            choice.position = i;
            choice.cost = v;
        }
    }
    choice.constraints_met = choice.cost == 0;
    return choice;
}

} // namespace

Choice choose(const Policy &policy, const Scales &scales, const Context &context,
              const std::vector<Candidate> &candidates) {
    switch (policy.kind) {
    case PolicyKind::lexicographic: return choose_lexicographic(policy.order, candidates);
    case PolicyKind::constraints: return choose_constraints(policy, context, candidates);
    case PolicyKind::weighted:
    case PolicyKind::latency: break;
    }
    return choose_weighted(cost_factors(policy.effective_weights(), scales), candidates);
}

} // namespace scheduler_mo
