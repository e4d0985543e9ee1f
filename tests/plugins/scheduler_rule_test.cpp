// scheduler-rule: each rule places tasks as documented, with a reason.
#include "plugin_harness.hpp"

#include <cstddef>
#include <string>

namespace {

using plugin_test::Instance;
using plugin_test::Overrides;

class SchedulerRule : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
        task_.struct_size = sizeof task_;
        task_.task_id = "t1";
        context_.struct_size = sizeof context_;
        context_.local_tier = TIERD_TIER_END;
        context_.battery_fraction = -1;
        edge_.struct_size = sizeof edge_;
        edge_.connected = 1;
        context_.edge = &edge_;
    }
    // Decide with the given route (or no pre-classifier result when route < 0).
    tierd_decision decide(Instance &inst, int route) {
        tierd_preclass_result pre{};
        pre.struct_size = sizeof pre;
        pre.route = static_cast<tierd_route>(route);
        pre.light_ok_probability = -1;
        tierd_decision out{};
        out.struct_size = sizeof out;
        rc_ = inst.ops<tierd_scheduler_ops>()->decide(inst.get(), &task_,
                                                      route < 0 ? nullptr : &pre, &context_, &out);
        return out;
    }
    Overrides models(const char *rule) {
        return {{"rule", rule}, {"light_model", "mobilenet"}, {"heavy_model", "resnet152"}};
    }

    plugin_test::Library lib_{SCHEDULER_RULE_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    tierd_task task_{};
    tierd_schedule_context context_{};
    tierd_link_state edge_{};
    int rc_ = TIERD_EPLUGIN;
};

TEST_F(SchedulerRule, AlwaysEndUsesTheLightModel) {
    Instance inst(d_, models("always-end"));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    tierd_decision out = decide(inst, TIERD_ROUTE_HEAVY);
    ASSERT_EQ(rc_, TIERD_OK);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.model, "mobilenet");
    EXPECT_EQ(out.split_layer, -1);
    EXPECT_STREQ(out.reason, "rule always-end");
    EXPECT_EQ(inst.host().counters["decisions_end"], 1.0);
}

TEST_F(SchedulerRule, AlwaysEdgeAndAlwaysCloudUseTheHeavyModel) {
    {
        Instance inst(d_, models("always-edge"));
        ASSERT_EQ(inst.create_rc(), TIERD_OK);
        tierd_decision out = decide(inst, TIERD_ROUTE_LIGHT);
        ASSERT_EQ(rc_, TIERD_OK);
        EXPECT_EQ(out.tier, TIERD_TIER_EDGE);
        EXPECT_STREQ(out.model, "resnet152");
        EXPECT_STREQ(out.reason, "rule always-edge");
        edge_.connected = 0;
        out = decide(inst, TIERD_ROUTE_LIGHT);
        EXPECT_EQ(out.tier, TIERD_TIER_EDGE); // "always" means always
        EXPECT_NE(std::string(out.reason).find("not connected"), std::string::npos);
    }
    {
        Instance inst(d_, models("always-cloud"));
        ASSERT_EQ(inst.create_rc(), TIERD_OK);
        tierd_decision out = decide(inst, -1);
        ASSERT_EQ(rc_, TIERD_OK);
        EXPECT_EQ(out.tier, TIERD_TIER_CLOUD);
        EXPECT_STREQ(out.model, "resnet152");
        EXPECT_NE(std::string(out.reason).find("always-cloud"), std::string::npos);
    }
}

TEST_F(SchedulerRule, ByRouteSendsHeavyTasksToAConnectedEdge) {
    Instance inst(d_, models("by-route"));
    ASSERT_EQ(inst.create_rc(), TIERD_OK);

    tierd_decision out = decide(inst, TIERD_ROUTE_HEAVY);
    ASSERT_EQ(rc_, TIERD_OK);
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE);
    EXPECT_STREQ(out.model, "resnet152");
    EXPECT_STREQ(out.reason, "by-route: route HEAVY and edge connected");

    out = decide(inst, TIERD_ROUTE_LIGHT);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.model, "mobilenet");
    EXPECT_STREQ(out.reason, "by-route: route LIGHT");

    out = decide(inst, TIERD_ROUTE_UNKNOWN);
    EXPECT_EQ(out.tier, TIERD_TIER_END);

    out = decide(inst, -1);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.reason, "by-route: no pre-classifier result");

    edge_.connected = 0;
    out = decide(inst, TIERD_ROUTE_HEAVY);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.reason, "by-route: route HEAVY but edge not connected");

    context_.edge = nullptr;
    out = decide(inst, TIERD_ROUTE_HEAVY);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.reason, "by-route: route HEAVY but no edge tier known");
    EXPECT_EQ(inst.host().counters["decisions_end"], 5.0);
    EXPECT_EQ(inst.host().counters["decisions_edge"], 1.0);
}

TEST_F(SchedulerRule, ByConfidenceOffloadsUnsureLocalAnswers) {
    Overrides o = models("by-confidence");
    o["confidence_threshold"] = "0.9";
    Instance inst(d_, o);
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;

    // No local answer (local_first off): stays here, and the reason says what to set.
    tierd_decision out = decide(inst, -1);
    ASSERT_EQ(rc_, TIERD_OK);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_NE(std::string(out.reason).find("local_first"), std::string::npos) << out.reason;

    tierd_inference_result local{};
    local.struct_size = sizeof local;
    local.top_class = 3;
    task_.local_result = &local;
    local.top_score = 0.95f; // confident: kept, with the light model
    out = decide(inst, TIERD_ROUTE_HEAVY);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.model, "mobilenet");
    EXPECT_STREQ(out.reason, "by-confidence: local model confident");

    local.top_score = 0.5f; // unsure: the edge's heavy model, whatever the route says
    out = decide(inst, TIERD_ROUTE_LIGHT);
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE);
    EXPECT_STREQ(out.model, "resnet152");

    edge_.connected = 0; // unsure but no edge: kept
    out = decide(inst, -1);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.reason, "by-confidence: local model unsure but edge not connected");

    // A 1.0-layout task has no local_result field: never read past struct_size.
    edge_.connected = 1;
    task_.struct_size = offsetof(tierd_task, local_result);
    out = decide(inst, -1);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_EQ(inst.host().counters["decisions_edge"], 1.0);
    EXPECT_EQ(inst.host().counters["decisions_end"], 4.0);
}

TEST_F(SchedulerRule, AMinimumShareKeepsTheLeastConfidentGoingUpWhenTheModelGrowsSure) {
    Overrides o = models("by-confidence");
    o["confidence_threshold"] = "0.9";
    o["min_upstream_share"] = "0.25";
    o["share_window"] = "40";
    Instance inst(d_, o);
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    tierd_inference_result local{};
    local.struct_size = sizeof local;
    local.top_class = 1;
    task_.local_result = &local;
    // A model sure of everything (40 scores in 0.95..0.99, above the threshold, each 40
    // in a row all different): at first (fewer than 20 scores) all stay; then the least
    // sure quarter of the last 40 goes up.
    int up = 0, up_early = 0;
    for (int i = 0; i < 200; ++i) {
        local.top_score = 0.95f + 0.001f * static_cast<float>((i * 37) % 40);
        const tierd_decision out = decide(inst, -1);
        ASSERT_EQ(rc_, TIERD_OK);
        if (out.tier == TIERD_TIER_EDGE) {
            EXPECT_STREQ(out.reason,
                         "by-confidence: among the least confident share of recent answers");
            EXPECT_STREQ(out.model, "resnet152");
            (i < 19 ? up_early : up) += 1;
        }
    }
    EXPECT_EQ(up_early, 0);
    EXPECT_NEAR(up, 181 / 4, 5);
    EXPECT_EQ(inst.host().counters["decisions_share"], static_cast<double>(up));
    // Unsure answers still go up by the threshold, and count in the window.
    local.top_score = 0.5f;
    tierd_decision out = decide(inst, -1);
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE);
    EXPECT_STREQ(out.reason, "by-confidence: local model unsure and edge connected");
    // No edge: kept, and said why.
    edge_.connected = 0;
    local.top_score = 0.95f;
    out = decide(inst, -1);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_STREQ(out.reason,
                 "by-confidence: among the least confident share but edge not connected");
}

TEST_F(SchedulerRule, WithoutAShareASureModelKeepsEverything) {
    Overrides o = models("by-confidence");
    o["confidence_threshold"] = "0.9";
    Instance inst(d_, o);
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    tierd_inference_result local{};
    local.struct_size = sizeof local;
    local.top_score = 0.95f;
    task_.local_result = &local;
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(decide(inst, -1).tier, TIERD_TIER_END);
}

TEST_F(SchedulerRule, DefaultsAreByRouteWithTheInferenceDefaultModel) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    tierd_decision out = decide(inst, TIERD_ROUTE_HEAVY);
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE);
    EXPECT_STREQ(out.model, "");
}

TEST_F(SchedulerRule, ReloadSwitchesTheRule) {
    Instance inst(d_, models("always-end"));
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    EXPECT_EQ(decide(inst, TIERD_ROUTE_HEAVY).tier, TIERD_TIER_END);
    ASSERT_EQ(inst.reload(models("always-cloud")), TIERD_OK);
    EXPECT_EQ(decide(inst, TIERD_ROUTE_HEAVY).tier, TIERD_TIER_CLOUD);
}

TEST_F(SchedulerRule, OverlongModelNameIsAConfigError) {
    Instance inst(d_, {{"light_model", std::string(64, 'm')}});
    EXPECT_EQ(inst.create_rc(), TIERD_ECONFIG);
    EXPECT_NE(inst.host().last_error.find("63 bytes"), std::string::npos);
}

} // namespace
