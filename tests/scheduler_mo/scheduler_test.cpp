// Properties of the scheduler on seeded random chain-shaped profiles and random walks of
// contexts: the incremental decision equals the exhaustive one, every policy's choice is
// on the Pareto front, offline tiers are never chosen, and the envelope's costs are the
// definition's.
#include "core/pareto.hpp"
#include "core/scheduler.hpp"
#include "random_profiles.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

namespace {

using namespace scheduler_mo;
using namespace scheduler_mo::testing;

Settings default_settings() {
    Settings settings;
    settings.light_model = "m0";
    return settings;
}

Scheduler random_scheduler(std::mt19937_64 &rng, const Policy &policy = Policy{},
                           const Settings &settings = default_settings()) {
    ProfileSet profiles = parse_profile_set(random_profiles(rng));
    return Scheduler(profiles, settings, random_power(rng), policy);
}

// Seeds beyond the first two also vary the settings.
Settings settings_for_seed(std::uint64_t seed) {
    Settings settings = default_settings();
    switch (seed) {
    case 3: settings.use_cloud = false; break; // Neurosurgeon-like: end + edge
    case 4:
        settings.wire_f16 = false;
        settings.light_model.clear();
        break;
    case 5:
        settings.models = {"m0", "m1"};
        settings.reply_bytes = 4000;
        break;
    default: break;
    }
    return settings;
}

bool same_or_equal_cost(const Scheduler &scheduler, const Decision &a, const Decision &b,
                        const Context &context) {
    if (a.valid != b.valid)
        return false;
    if (!a.valid || a.index == b.index)
        return true;
    double ca = scheduler.cost(a.index, context);
    double cb = scheduler.cost(b.index, context);
    return std::fabs(ca - cb) <= 1e-9 * std::max(std::fabs(ca), std::fabs(cb));
}

class IncrementalMatchesExhaustive : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(IncrementalMatchesExhaustive, OverRandomContextWalks) {
    std::mt19937_64 rng(GetParam());
    Scheduler scheduler = random_scheduler(rng, Policy{}, settings_for_seed(GetParam()));
    ASSERT_GE(scheduler.options().size(), 10u);
    int same = 0, total = 0;
    for (int weights = 0; weights < 4; ++weights) {
        Policy policy;
        if (weights == 3) {
            policy.kind = PolicyKind::latency;
        } else {
            policy.weights = random_weights(rng);
        }
        scheduler.set_policy(policy);
        ContextWalk walk(rng);
        for (int step = 0; step < 1000; ++step) {
            const Context &context = walk.next();
            Decision incremental = scheduler.decide(context);
            Decision exhaustive = scheduler.decide_exhaustive(context);
            ASSERT_TRUE(same_or_equal_cost(scheduler, incremental, exhaustive, context))
                << "seed " << GetParam() << " weights " << weights << " step " << step << ": "
                << incremental.reason << " vs " << exhaustive.reason;
            if (incremental.valid) {
                // The cost the envelope reports is the definition's.
                double defined = scheduler.cost(incremental.index, context);
                EXPECT_NEAR(incremental.cost, defined, 1e-9 * std::fabs(defined));
                EXPECT_LE(incremental.reason.size(), kReasonMax);
            }
            same += incremental.index == exhaustive.index;
            ++total;
        }
    }
    EXPECT_GE(same, total * 99 / 100); // differences only at exact ties
    // The cursors moved (envelopes here hold a handful of lines: walks rarely need a search).
    EXPECT_GT(scheduler.stats().walk.steps, 0u);
    std::printf("seed %llu: %zu options, envelopes edge %zu cloud %zu lines, %llu steps, "
                "%llu searches\n",
                static_cast<unsigned long long>(GetParam()), scheduler.options().size(),
                scheduler.envelope_size(Tier::edge), scheduler.envelope_size(Tier::cloud),
                static_cast<unsigned long long>(scheduler.stats().walk.steps),
                static_cast<unsigned long long>(scheduler.stats().walk.searches));
    EXPECT_EQ(scheduler.stats().incremental, scheduler.stats().decisions);
}

INSTANTIATE_TEST_SUITE_P(Seeds, IncrementalMatchesExhaustive,
                         ::testing::Values(1u, 2u, 3u, 4u, 5u));

// One deep chain whose split points all lead somewhere in 0.4-250 Mbit/s: each cut costs
// the end device 0.95 ms more and shrinks the tensor by 15%, so the best cut moves one step
// per bandwidth change of ~18%, and jumps cross many lines (binary searches).
TEST(IncrementalMatchesExhaustiveOnALongEnvelope, WalksAndSearches) {
    nlohmann::json profiles = nlohmann::json::parse(R"({"end": {"v":1,"device_id":"e","tier":"end",
        "models":[]}, "edge": {"v":1,"device_id":"s","tier":"edge","models":[]}})");
    for (const char *tier : {"end", "edge"}) {
        double per_layer = tier == std::string("end") ? 1.0 : 0.05;
        nlohmann::json cuts = nlohmann::json::array();
        for (int k = 0; k < 40; ++k)
            cuts.push_back({{"layer", k + 1},
                            {"elements", std::llround(100000 * std::pow(0.85, k))},
                            {"head_ms", per_layer * (k + 1)},
                            {"tail_ms", per_layer * (40 - k)},
                            {"int8_agreement", 0.999 - 0.0001 * k}});
        profiles[tier]["models"].push_back({{"name", "deep"},
                                            {"top1", 0.9},
                                            {"input_bytes", 400000},
                                            {"full_ms", per_layer * 41},
                                            {"cuts", cuts}});
    }
    Settings settings;
    settings.use_cloud = false;
    Scheduler scheduler(parse_profile_set(profiles), settings, DevicePower{2, 1, 0.5});
    std::mt19937_64 rng(31);
    for (int round = 0; round < 4; ++round) {
        Policy policy;
        if (round == 0)
            policy.kind = PolicyKind::latency;
        else
            policy.weights = random_weights(rng, false);
        scheduler.set_policy(policy);
        EXPECT_GE(scheduler.envelope_size(Tier::edge), 20u);
        ContextWalk walk(rng);
        for (int step = 0; step < 1000; ++step) {
            const Context &context = walk.next();
            Decision incremental = scheduler.decide(context);
            Decision exhaustive = scheduler.decide_exhaustive(context);
            ASSERT_TRUE(same_or_equal_cost(scheduler, incremental, exhaustive, context))
                << "round " << round << " step " << step << ": " << incremental.reason << " vs "
                << exhaustive.reason;
        }
    }
    EXPECT_GT(scheduler.stats().walk.steps, 0u);
    EXPECT_GT(scheduler.stats().walk.searches, 0u);
}

class ChoiceIsOnTheParetoFront : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(ChoiceIsOnTheParetoFront, ForEveryPolicy) {
    std::mt19937_64 rng(GetParam() + 100);
    Scheduler scheduler = random_scheduler(rng);
    const Objective all[] = {Objective::latency, Objective::energy, Objective::bytes,
                             Objective::accuracy};
    for (int round = 0; round < 40; ++round) {
        Policy policy;
        switch (round % 4) {
        case 0: policy.weights = random_weights(rng, /*allow_zero=*/round % 8 == 4); break;
        case 1: policy.kind = PolicyKind::latency; break;
        case 2: {
            policy.kind = PolicyKind::lexicographic;
            std::vector<Objective> order(std::begin(all), std::end(all));
            std::shuffle(order.begin(), order.end(), rng);
            order.resize(static_cast<std::size_t>(between(rng, 1, 4)));
            policy.order.clear();
            for (Objective objective : order)
                policy.order.push_back({objective, chance(rng, 0.3) ? 0.0 : uniform(rng, 0, 1)});
            break;
        }
        case 3:
            policy.kind = PolicyKind::constraints;
            policy.deadline_ms = chance(rng, 0.3) ? 0.0 : log_uniform(rng, 0.1, 200);
            policy.min_accuracy = chance(rng, 0.5) ? 0.0 : uniform(rng, 0.75, 0.97);
            policy.max_energy_j = chance(rng, 0.5) ? 0.0 : log_uniform(rng, 1e-5, 0.1);
            policy.battery_floor = uniform(rng, 0, 0.5);
            policy.minimise = all[between(rng, 0, 3)];
            break;
        }
        scheduler.set_policy(policy);
        ContextWalk walk(rng);
        for (int step = 0; step < 50; ++step) {
            const Context &context = walk.next();
            std::vector<std::size_t> front = scheduler.pareto_front(context);
            for (const Decision &d :
                 {scheduler.decide(context), scheduler.decide_exhaustive(context)}) {
                if (!d.valid) {
                    EXPECT_TRUE(front.empty());
                    continue;
                }
                EXPECT_TRUE(std::binary_search(front.begin(), front.end(), d.index))
                    << policy_name(policy.kind) << ": " << d.reason;
                // Never an offline tier.
                EXPECT_TRUE(scheduler.feasible(d.index, context)) << d.reason;
                if (policy.kind == PolicyKind::constraints && d.constraints_met) {
                    EXPECT_TRUE(policy.deadline_ms == 0 ||
                                d.predicted.latency_ms <= policy.deadline_ms);
                    EXPECT_TRUE(policy.min_accuracy == 0 ||
                                d.predicted.accuracy >= policy.min_accuracy);
                    EXPECT_TRUE(policy.max_energy_j == 0 ||
                                d.predicted.energy_j <= policy.max_energy_j);
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ChoiceIsOnTheParetoFront, ::testing::Values(1u, 2u, 3u));

TEST(ParetoFront, IsExactlyTheUndominatedSet) {
    std::mt19937_64 rng(11);
    Scheduler scheduler = random_scheduler(rng);
    ContextWalk walk(rng);
    for (int step = 0; step < 20; ++step) {
        const Context &context = walk.next();
        std::vector<std::size_t> front = scheduler.pareto_front(context);
        for (std::size_t i = 0; i < scheduler.options().size(); ++i) {
            if (!scheduler.feasible(i, context)) {
                EXPECT_FALSE(std::binary_search(front.begin(), front.end(), i));
                continue;
            }
            bool dominated = false;
            for (std::size_t j = 0; j < scheduler.options().size(); ++j)
                dominated |=
                    scheduler.feasible(j, context) &&
                    dominates(scheduler.predict(j, context), scheduler.predict(i, context));
            EXPECT_EQ(std::binary_search(front.begin(), front.end(), i), !dominated);
        }
    }
}

TEST(Scheduler, CacheSkipsWorkUnderTheThreshold) {
    std::mt19937_64 rng(21);
    Policy policy;
    policy.redecide_threshold = 0.02;
    Scheduler scheduler = random_scheduler(rng, policy);
    Context context;
    context.edge = TierLink{true, 20e6, 10, 2};
    context.cloud = TierLink{true, 50e6, 40, 1};
    Decision first = scheduler.decide(context);
    for (int i = 0; i < 10; ++i) {
        context.edge.bandwidth_bps = 20e6 * (1 + 0.001 * i);
        EXPECT_TRUE(scheduler.decide(context).cached);
    }
    EXPECT_EQ(scheduler.stats().cached, 10u);
    EXPECT_EQ(scheduler.stats().incremental, 1u);
    context.edge.bandwidth_bps = 30e6;
    EXPECT_FALSE(scheduler.decide(context).cached);
    (void)first;
}

} // namespace
