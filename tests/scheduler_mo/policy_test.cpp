// Policy parsing and the semantics of each policy on the hand-written fixture, each
// checked against a brute-force reading of its definition.
#include "core/policy.hpp"
#include "core/scheduler.hpp"
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

namespace {

using namespace scheduler_mo;
using namespace scheduler_mo::testing;

void expect_policy_error(const ConfigMap &map, const std::string &part) {
    try {
        parse_policy(map);
        ADD_FAILURE() << "no error, expected one about " << part;
    } catch (const std::invalid_argument &error) {
        EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << error.what();
    }
}

TEST(PolicyParse, ReadsEveryKey) {
    Policy p = parse_policy(ConfigMap{{"policy", std::string("constraints")},
                                      {"w_latency", 2.0},
                                      {"w_energy", std::string("0.5")},
                                      {"deadline_ms", 30.0},
                                      {"min_accuracy", 0.9},
                                      {"max_energy_j", 0.01},
                                      {"battery_floor", 0.2},
                                      {"minimize", std::string("energy")},
                                      {"force", std::string("end:cnn-xs")},
                                      {"redecide_threshold", 0.05},
                                      {"unrelated_plugin_key", std::string("x")}});
    EXPECT_EQ(p.kind, PolicyKind::constraints);
    EXPECT_EQ(p.weights.latency, 2);
    EXPECT_EQ(p.weights.energy, 0.5);
    EXPECT_EQ(p.deadline_ms, 30);
    EXPECT_EQ(p.min_accuracy, 0.9);
    EXPECT_EQ(p.max_energy_j, 0.01);
    EXPECT_EQ(p.battery_floor, 0.2);
    EXPECT_EQ(p.minimise, Objective::energy);
    EXPECT_EQ(p.force, "end:cnn-xs");
    EXPECT_EQ(p.redecide_threshold, 0.05);

    p = parse_policy(ConfigMap{{"policy", std::string("lexicographic")},
                               {"order", std::string("accuracy:0.01, latency")},
                               {"tolerance", 0.1}});
    ASSERT_EQ(p.order.size(), 2u);
    EXPECT_EQ(p.order[0].objective, Objective::accuracy);
    EXPECT_EQ(p.order[0].tolerance, 0.01);
    EXPECT_EQ(p.order[1].objective, Objective::latency);
    EXPECT_EQ(p.order[1].tolerance, 0.1);

    p = parse_policy(ConfigMap{{"policy", std::string("latency")}, {"w_energy", 3.0}});
    Weights w = p.effective_weights();
    EXPECT_EQ(w.latency, 1);
    EXPECT_EQ(w.energy + w.bytes + w.accuracy, 0);
}

TEST(PolicyParse, BadValuesNameTheKey) {
    expect_policy_error({{"policy", std::string("fastest")}}, "policy: unknown policy \"fastest\"");
    expect_policy_error({{"w_energy", -1.0}}, "w_energy: must be >= 0");
    expect_policy_error(
        {{"w_latency", 0.0}, {"w_energy", 0.0}, {"w_bytes", 0.0}, {"w_accuracy", 0.0}}, "all 0");
    expect_policy_error({{"w_bytes", std::string("lots")}}, "w_bytes: expected a number");
    expect_policy_error({{"order", std::string("latency,speed")}}, "unknown objective \"speed\"");
    expect_policy_error({{"order", std::string("latency,latency")}}, "latency appears twice");
    expect_policy_error({{"order", std::string("latency:abc")}}, "order tolerance of latency");
    expect_policy_error({{"policy", std::string("lexicographic")}, {"order", std::string("")}},
                        "order: name at least one");
    expect_policy_error({{"tolerance", -0.1}}, "tolerance");
    expect_policy_error({{"min_accuracy", 1.5}}, "min_accuracy: must be in [0, 1]");
    expect_policy_error({{"deadline_ms", -5.0}}, "deadline_ms");
    expect_policy_error({{"battery_floor", 2.0}}, "battery_floor");
    expect_policy_error({{"minimise", std::string("speed")}}, "minimise: unknown objective");
    expect_policy_error({{"force", 3.0}}, "force: expected a string");
    expect_policy_error({{"redecide_threshold", -1.0}}, "redecide_threshold");
}

class PolicySemantics : public ::testing::Test {
  protected:
    PolicySemantics()
        : profiles_(parse_profile_set_text(kFixtureProfiles)),
          scheduler_(profiles_, fixture_settings(), fixture_power()) {}

    Decision run(const Policy &policy, const Context &context) {
        scheduler_.set_policy(policy);
        Decision incremental = scheduler_.decide(context);
        Decision exhaustive = scheduler_.decide_exhaustive(context);
        EXPECT_EQ(incremental.index, exhaustive.index);
        EXPECT_EQ(incremental.reason, exhaustive.reason);
        EXPECT_LE(incremental.reason.size(), kReasonMax);
        return incremental;
    }

    // The feasible option that `better` puts first among those `keep` accepts.
    std::size_t brute(const Context &context, const std::function<bool(const Objectives &)> &keep,
                      const std::function<double(const Objectives &)> &key) {
        std::size_t best = scheduler_.options().size();
        for (std::size_t i = 0; i < scheduler_.options().size(); ++i) {
            if (!scheduler_.feasible(i, context))
                continue;
            Objectives o = scheduler_.predict(i, context);
            if (keep(o) && (best == scheduler_.options().size() ||
                            key(o) < key(scheduler_.predict(best, context))))
                best = i;
        }
        return best;
    }

    std::string name(const Decision &d) const { return scheduler_.options()[d.index].name; }

    ProfileSet profiles_;
    Scheduler scheduler_;
};

TEST_F(PolicySemantics, DeadlineIsRespectedWhenFeasible) {
    Policy policy;
    policy.kind = PolicyKind::constraints;
    policy.minimise = Objective::energy;
    for (double deadline : {5.0, 8.0, 11.0, 12.0, 50.0}) {
        policy.deadline_ms = deadline;
        Context context = fixture_context();
        Decision d = run(policy, context);
        EXPECT_TRUE(d.constraints_met);
        EXPECT_LE(d.predicted.latency_ms, deadline);
        std::size_t expected = brute(
            context, [&](const Objectives &o) { return o.latency_ms <= deadline; },
            [](const Objectives &o) { return o.energy_j; });
        EXPECT_EQ(d.index, expected) << deadline << ": " << d.reason;
        EXPECT_NE(d.reason.find("constraints, min energy"), std::string::npos) << d.reason;
    }
}

TEST_F(PolicySemantics, MinAccuracy) {
    Policy policy;
    policy.kind = PolicyKind::constraints;
    policy.min_accuracy = 0.94;
    Decision d = run(policy, fixture_context());
    EXPECT_EQ(name(d), "cloud:resnet-56");
    EXPECT_TRUE(d.constraints_met);
    policy.min_accuracy = 0.925; // cloud resnet-20 f16 split or whole, whichever is faster
    d = run(policy, fixture_context());
    EXPECT_GE(d.predicted.accuracy, 0.925);
    std::size_t expected = brute(
        fixture_context(), [](const Objectives &o) { return o.accuracy >= 0.925; },
        [](const Objectives &o) { return o.latency_ms; });
    EXPECT_EQ(d.index, expected);
}

TEST_F(PolicySemantics, BatteryFloorSwitchesToEnergy) {
    Policy policy;
    policy.kind = PolicyKind::constraints;
    policy.battery_floor = 0.2;
    Context context = fixture_context();
    auto fastest = brute(
        context, [](const Objectives &) { return true; },
        [](const Objectives &o) { return o.latency_ms; });
    auto frugal = brute(
        context, [](const Objectives &) { return true; },
        [](const Objectives &o) { return o.energy_j; });
    ASSERT_NE(fastest, frugal);
    for (double battery : {-1.0, 0.9, 0.2}) {
        context.battery_fraction = battery;
        EXPECT_EQ(run(policy, context).index, fastest) << battery;
    }
    context.battery_fraction = 0.15;
    Decision d = run(policy, context);
    EXPECT_EQ(d.index, frugal);
    EXPECT_NE(d.reason.find("battery 15%<20%, min energy"), std::string::npos) << d.reason;
}

TEST_F(PolicySemantics, InfeasibleConstraintsTakeTheLeastViolation) {
    Policy policy;
    policy.kind = PolicyKind::constraints;
    policy.deadline_ms = 0.2;
    policy.min_accuracy = 0.99;
    Context context = fixture_context();
    Decision d = run(policy, context);
    EXPECT_FALSE(d.constraints_met);
    EXPECT_NE(d.reason.find("constraints unmet, least violation"), std::string::npos) << d.reason;
    auto violation = [](const Objectives &o) {
        return std::max(0.0, o.latency_ms - 0.2) / 0.2 + std::max(0.0, 0.99 - o.accuracy) / 0.99;
    };
    std::size_t expected = brute(
        context, [](const Objectives &) { return true; }, violation);
    EXPECT_EQ(d.index, expected);
    EXPECT_NEAR(d.cost, violation(d.predicted), 1e-12);
}

TEST_F(PolicySemantics, LexicographicTolerance) {
    Policy policy;
    policy.kind = PolicyKind::lexicographic;
    Context context = fixture_context();
    double fastest_latency = scheduler_
                                 .predict(brute(
                                              context, [](const Objectives &) { return true; },
                                              [](const Objectives &o) { return o.latency_ms; }),
                                          context)
                                 .latency_ms;
    for (double tolerance : {0.0, 0.02, 0.5, 1.0, 3.0, 100.0}) {
        policy.order = {{Objective::latency, tolerance}, {Objective::energy, 0.02}};
        Decision d = run(policy, context);
        std::size_t expected = brute(
            context,
            [&](const Objectives &o) { return o.latency_ms <= fastest_latency * (1 + tolerance); },
            [](const Objectives &o) { return o.energy_j; });
        EXPECT_EQ(d.index, expected) << tolerance << ": " << d.reason;
        EXPECT_NE(d.reason.find("lex latency>energy"), std::string::npos);
    }
    // Accuracy first: the most accurate, unless the tolerance lets a faster one in.
    policy.order = {{Objective::accuracy, 0.0}, {Objective::latency, 0.0}};
    EXPECT_EQ(name(run(policy, context)), "cloud:resnet-56");
    policy.order = {{Objective::accuracy, 0.03}, {Objective::latency, 0.0}};
    Decision d = run(policy, context);
    EXPECT_GE(d.predicted.accuracy * 1.03, 0.95);
    EXPECT_EQ(d.index, brute(
                           context, [](const Objectives &o) { return o.accuracy * 1.03 >= 0.95; },
                           [](const Objectives &o) { return o.latency_ms; }));
}

TEST_F(PolicySemantics, WeightedAndLatency) {
    Policy policy;
    policy.kind = PolicyKind::latency;
    Context context = fixture_context();
    Decision d = run(policy, context);
    EXPECT_EQ(d.index, brute(
                           context, [](const Objectives &) { return true; },
                           [](const Objectives &o) { return o.latency_ms; }));
    EXPECT_EQ(d.reason.rfind("latency: ", 0), 0u) << d.reason;
    policy.kind = PolicyKind::weighted;
    policy.weights = Weights{0, 1, 0, 0};
    d = run(policy, context);
    EXPECT_EQ(d.index, brute(
                           context, [](const Objectives &) { return true; },
                           [](const Objectives &o) { return o.energy_j; }));
    EXPECT_NEAR(d.cost, d.predicted.energy_j / 0.02, 1e-12);
}

TEST_F(PolicySemantics, OfflineTierIsNeverChosen) {
    Context context = fixture_context();
    context.edge.online = false;
    context.cloud.bandwidth_bps = 1e9; // the cloud would win everything
    Policy policies[4];
    policies[1].kind = PolicyKind::latency;
    policies[2].kind = PolicyKind::lexicographic;
    policies[3].kind = PolicyKind::constraints;
    for (const Policy &policy : policies) {
        for (bool cloud : {true, false}) {
            context.cloud.online = cloud;
            Decision d = run(policy, context);
            ASSERT_TRUE(d.valid);
            Tier tier = scheduler_.options()[d.index].tier;
            EXPECT_NE(tier, Tier::edge) << d.reason;
            if (!cloud) {
                EXPECT_EQ(tier, Tier::end) << d.reason;
            }
        }
    }
}

TEST_F(PolicySemantics, NothingFeasible) {
    Settings remote_only = fixture_settings();
    remote_only.use_end = false;
    Scheduler scheduler(profiles_, remote_only, fixture_power());
    Context context = fixture_context();
    context.edge.online = false;
    context.cloud.online = false;
    Decision d = scheduler.decide(context);
    EXPECT_FALSE(d.valid);
    EXPECT_EQ(d.reason, "no feasible option (end not allowed, edge offline, cloud offline)");
    EXPECT_FALSE(scheduler.decide_exhaustive(context).valid);
    EXPECT_TRUE(scheduler.pareto_front(context).empty());
}

TEST_F(PolicySemantics, ForcePinsAnOptionAndFallsBack) {
    Policy plain;
    Context context = fixture_context();
    std::size_t unforced = run(plain, context).index;

    Policy policy;
    policy.force = "split:cloud:resnet-20:5:i8";
    Decision d = run(policy, context);
    EXPECT_EQ(name(d), "split:cloud:resnet-20:5:i8");
    EXPECT_TRUE(d.forced);
    EXPECT_EQ(d.reason.rfind("force: split:cloud:resnet-20:5:i8 lat ", 0), 0u) << d.reason;

    context.cloud.online = false; // forced option offline: the policy decides
    d = run(policy, context);
    EXPECT_FALSE(d.forced);
    EXPECT_NE(scheduler_.options()[d.index].tier, Tier::cloud);
    EXPECT_EQ(d.reason.rfind("force: cloud offline; weighted: ", 0), 0u) << d.reason;

    policy.force = "edge:resnet-99";
    context = fixture_context();
    d = run(policy, context);
    EXPECT_FALSE(d.forced);
    EXPECT_EQ(d.index, unforced);
    EXPECT_EQ(d.reason.rfind("force 'edge:resnet-99' unavailable; weighted: ", 0), 0u) << d.reason;
}

TEST_F(PolicySemantics, ReasonIsShortAndSaysWhat) {
    Decision d = run(Policy{}, fixture_context());
    std::string expected = "weighted: " + name(d) + " lat ";
    EXPECT_EQ(d.reason.rfind(expected, 0), 0u) << d.reason;
    EXPECT_NE(d.reason.find("mJ"), std::string::npos);
}

TEST_F(PolicySemantics, RedecideThresholdReusesTheLastDecision) {
    Policy policy;
    policy.redecide_threshold = 0.1;
    scheduler_.set_policy(policy);
    Context context = fixture_context();
    Decision first = scheduler_.decide(context);
    EXPECT_FALSE(first.cached);
    context.edge.bandwidth_bps *= 1.05;
    context.cloud.rtt_ms *= 0.95;
    Decision second = scheduler_.decide(context);
    EXPECT_TRUE(second.cached);
    EXPECT_EQ(second.index, first.index);
    EXPECT_EQ(scheduler_.stats().cached, 1u);
    context.edge.bandwidth_bps *= 1.2; // 26% from the last evaluated context
    EXPECT_FALSE(scheduler_.decide(context).cached);
    context.cloud.online = false;
    EXPECT_FALSE(scheduler_.decide(context).cached);
    EXPECT_TRUE(scheduler_.decide(context).cached);
    scheduler_.forget();
    EXPECT_FALSE(scheduler_.decide(context).cached);
    // 0 (the default) always evaluates.
    scheduler_.set_policy(Policy{});
    EXPECT_FALSE(scheduler_.decide(context).cached);
    EXPECT_FALSE(scheduler_.decide(context).cached);
}

TEST_F(PolicySemantics, ConstructionNeedsAnOption) {
    Settings nothing = fixture_settings();
    nothing.models = {"no-such-model"};
    EXPECT_THROW(Scheduler(profiles_, nothing, fixture_power()), std::invalid_argument);
    EXPECT_THROW(Scheduler(profiles_, fixture_settings(), DevicePower{-1, 1, 1}),
                 std::invalid_argument);
    Policy bad;
    bad.weights = Weights{0, 0, 0, 0};
    EXPECT_THROW(scheduler_.set_policy(bad), std::invalid_argument);
}

} // namespace

// Compressed variants (tools/compress, docs/compression.md) are models like any other in
// the profiles: the choice of model, precision and tier is one decision. Figures as
// bench/results/compress.md measured them (ms on an emulated Pi 3B+ end, the edge at full
// speed): ResNet-20 and its pruned half, and the pruned half in int8 (slower here).
TEST(CompressedVariants, AreOptionsPerTierLikeAnyModel) {
    const char *profiles_text = R"({
      "end": {"v":1,"device_id":"pi-1","tier":"end","slowdown":28.9,"runs":20,"models":[
        {"name":"cnn-xs-kd","top1":0.88,"input_bytes":784,"full_ms":0.6},
        {"name":"resnet-20","top1":0.9244,"input_bytes":784,"full_ms":42.7},
        {"name":"resnet-20-p50","top1":0.9201,"input_bytes":784,"full_ms":17.3},
        {"name":"resnet-20-p50-int8","top1":0.9195,"input_bytes":784,"full_ms":30.1}]},
      "edge": {"v":1,"device_id":"edge-1","tier":"edge","slowdown":1.0,"runs":20,"models":[
        {"name":"resnet-20","top1":0.9244,"input_bytes":784,"full_ms":1.5},
        {"name":"resnet-20-p50","top1":0.9201,"input_bytes":784,"full_ms":0.6}]},
      "cloud": null})";
    const ProfileSet profiles = parse_profile_set_text(profiles_text);
    Settings settings;
    settings.light_model = "cnn-xs-kd";
    Policy policy;
    policy.kind = PolicyKind::constraints;
    policy.min_accuracy = 0.915;
    policy.minimise = Objective::energy;
    Context offline;
    offline.edge.online = false;
    auto choose = [&](const Settings &s, const Context &context) {
        Scheduler scheduler(profiles, s, DevicePower{3.2, 1.0, 0.5}, policy);
        const Decision d = scheduler.decide(context);
        EXPECT_TRUE(d.valid);
        EXPECT_TRUE(d.constraints_met) << d.reason;
        return scheduler.options()[d.index].name;
    };
    // Alone on the end: the pruned variant is accurate enough and costs the least energy.
    EXPECT_EQ(choose(settings, offline), "end:resnet-20-p50");
    // Without the variants the same policy must run the full model.
    Settings zoo_only = settings;
    zoo_only.models = {"cnn-xs-kd", "resnet-20"};
    EXPECT_EQ(choose(zoo_only, offline), "end:resnet-20");
    // With the edge reachable and latency minimised, the fastest option meeting the floor
    // is the pruned variant on the edge; above its top-1, the full model there.
    Context online;
    online.edge = TierLink{true, 20e6, 10, 0};
    policy.minimise = Objective::latency;
    EXPECT_EQ(choose(settings, online), "edge:resnet-20-p50");
    policy.min_accuracy = 0.922;
    EXPECT_EQ(choose(settings, online), "edge:resnet-20");
}
