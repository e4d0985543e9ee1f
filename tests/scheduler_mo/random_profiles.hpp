// Seeded random inputs for the scheduler core's property tests: chain-shaped models (random
// per-layer costs, so head and tail times are prefix and suffix sums of one chain; random
// tensor sizes), partial availability across tiers, and random walks of contexts with small
// moves and big jumps.
#pragma once

#include "core/options.hpp"
#include "core/policy.hpp"
#include "core/profiles.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace scheduler_mo::testing {

inline double uniform(std::mt19937_64 &rng, double low, double high) {
    return std::uniform_real_distribution<double>(low, high)(rng);
}

inline double log_uniform(std::mt19937_64 &rng, double low, double high) {
    return std::exp(uniform(rng, std::log(low), std::log(high)));
}

inline bool chance(std::mt19937_64 &rng, double p) {
    return uniform(rng, 0, 1) < p;
}

inline int between(std::mt19937_64 &rng, int low, int high) {
    return std::uniform_int_distribution<int>(low, high)(rng);
}

// {"end":..., "edge":..., "cloud":...} with 2-4 models of 5-15 cuts; model "m0" is on every
// tier (so the set is never empty); the others may be missing from a tier, and a remote
// tier may miss some cuts.
inline nlohmann::json random_profiles(std::mt19937_64 &rng) {
    using nlohmann::json;
    const char *tiers[] = {"end", "edge", "cloud"};
    double speed[] = {1.0, uniform(rng, 0.05, 0.5), uniform(rng, 0.01, 0.2)};
    json docs[3];
    for (int t = 0; t < 3; ++t)
        docs[t] = json{{"v", 1},           {"device_id", std::string(tiers[t]) + "-1"},
                       {"tier", tiers[t]}, {"slowdown", 1.0},
                       {"runs", 20},       {"models", json::array()}};
    int models = between(rng, 2, 4);
    for (int m = 0; m < models; ++m) {
        std::string name = "m" + std::to_string(m);
        int cuts = between(rng, 5, 15);
        int layers = cuts + between(rng, 1, 6);
        std::vector<double> base(static_cast<std::size_t>(layers));
        for (double &cost : base)
            cost = log_uniform(rng, 0.005, 1.0);
        // Cut after layer k (1 <= k < layers): pick `cuts` distinct k.
        std::vector<int> positions;
        for (int k = 1; k < layers; ++k)
            positions.push_back(k);
        std::shuffle(positions.begin(), positions.end(), rng);
        positions.resize(static_cast<std::size_t>(cuts));
        std::sort(positions.begin(), positions.end());
        std::vector<double> elements, agreement;
        for (int c = 0; c < cuts; ++c) {
            elements.push_back(std::round(log_uniform(rng, 64, 200000)));
            agreement.push_back(uniform(rng, 0.95, 1.0));
        }
        double top1 = uniform(rng, 0.8, 0.95);
        double input_bytes = chance(rng, 0.5) ? 784 : std::round(log_uniform(rng, 500, 200000));
        for (int t = 0; t < 3; ++t) {
            if (m > 0 && !chance(rng, t == 0 ? 0.9 : 0.85))
                continue;
            std::vector<double> cost(base.size());
            for (std::size_t l = 0; l < base.size(); ++l)
                cost[l] = base[l] * speed[t] * uniform(rng, 0.8, 1.25);
            double full = 0;
            for (double c : cost)
                full += c;
            json cut_docs = json::array();
            for (int c = 0; c < cuts; ++c) {
                if (t > 0 && !chance(rng, 0.9))
                    continue;
                double head = 0;
                for (int l = 0; l < positions[static_cast<std::size_t>(c)]; ++l)
                    head += cost[static_cast<std::size_t>(l)];
                cut_docs.push_back(json{{"layer", positions[static_cast<std::size_t>(c)]},
                                        {"elements", static_cast<long long>(elements[c])},
                                        {"head_ms", head},
                                        {"tail_ms", full - head},
                                        {"int8_agreement", agreement[c]}});
            }
            docs[t]["models"].push_back(json{{"name", name},
                                             {"top1", top1 + uniform(rng, -0.002, 0.002)},
                                             {"input_bytes", static_cast<long long>(input_bytes)},
                                             {"full_ms", full},
                                             {"cuts", cut_docs}});
        }
    }
    return json{{"end", docs[0]}, {"edge", docs[1]}, {"cloud", docs[2]}};
}

inline DevicePower random_power(std::mt19937_64 &rng) {
    return DevicePower{uniform(rng, 0.5, 5), uniform(rng, 0.5, 3), uniform(rng, 0.2, 1.5)};
}

// Each weight in [0, 1], a quarter of them 0, never all 0.
inline Weights random_weights(std::mt19937_64 &rng, bool allow_zero = true) {
    Weights w;
    double *all[] = {&w.latency, &w.energy, &w.bytes, &w.accuracy};
    for (double *weight : all)
        *weight = allow_zero && chance(rng, 0.25) ? 0.0 : uniform(rng, 0.01, 1);
    if (w.latency + w.energy + w.bytes + w.accuracy == 0)
        w.latency = 1;
    return w;
}

// A random walk of contexts: mostly small moves of bandwidth (0.1-200 Mbit/s), rtt and
// queues, sometimes big jumps, tiers going offline and back, per-task light-model
// probabilities and battery levels.
class ContextWalk {
  public:
    explicit ContextWalk(std::mt19937_64 &rng) : rng_(rng) {
        for (TierLink *link : {&context_.edge, &context_.cloud}) {
            link->online = true;
            jump(*link);
        }
    }

    const Context &next() {
        for (TierLink *link : {&context_.edge, &context_.cloud}) {
            if (chance(rng_, 0.05))
                link->online = !link->online;
            if (chance(rng_, 0.7)) {
                link->bandwidth_bps = std::clamp(
                    link->bandwidth_bps * std::exp(uniform(rng_, -0.05, 0.05)), 1e5, 2e8);
                link->rtt_ms *= std::exp(uniform(rng_, -0.05, 0.05));
                link->queue_ms *= std::exp(uniform(rng_, -0.05, 0.05));
            } else {
                jump(*link);
            }
        }
        context_.local_queue_ms = chance(rng_, 0.3) ? 0.0 : uniform(rng_, 0, 20);
        context_.light_ok_probability = chance(rng_, 0.5) ? -1.0 : uniform(rng_, 0, 1);
        context_.battery_fraction = chance(rng_, 0.5) ? -1.0 : uniform(rng_, 0, 1);
        return context_;
    }

  private:
    void jump(TierLink &link) {
        link.bandwidth_bps = log_uniform(rng_, 1e5, 2e8);
        link.rtt_ms = uniform(rng_, 0.5, 150);
        link.queue_ms = chance(rng_, 0.3) ? 0.0 : uniform(rng_, 0, 50);
    }

    std::mt19937_64 &rng_;
    Context context_;
};

} // namespace scheduler_mo::testing
