// scheduler-mo through its C ABI: it reads the host's profiles and link estimates
// (ABI 1.2 context), places tasks on the tier its policy prefers as the link changes,
// fills split decisions (cut layer, wire), says why it stays local without profiles, and
// refuses a bad policy at create() naming the key.
#include "plugin_harness.hpp"

#include <cstddef>
#include <string>

namespace {

using plugin_test::Instance;
using plugin_test::Overrides;

// A small end and edge profile pair: "light" (fast, less accurate) and "heavy" with one
// cut whose tensor is tiny (64 values) and whose head is cheap on the end.
const char *kProfiles = R"({
 "end": {"v":1,"device_id":"n","tier":"end","models":[
   {"name":"light","top1":0.86,"input_bytes":784,"full_ms":15,"cuts":[]},
   {"name":"heavy","top1":0.92,"input_bytes":784,"full_ms":70,
    "cuts":[{"layer":50,"elements":64,"head_ms":20,"tail_ms":50,"int8_agreement":1.0}]}]},
 "edge": {"v":1,"device_id":"e","tier":"edge","models":[
   {"name":"heavy","top1":0.92,"input_bytes":784,"full_ms":3,
    "cuts":[{"layer":50,"elements":64,"head_ms":3,"tail_ms":0.05,"int8_agreement":1.0}]}]},
 "cloud": null})";

class SchedulerMo : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        task_.struct_size = sizeof task_;
        task_.task_id = "t1";
        context_.struct_size = sizeof context_;
        context_.local_tier = TIERD_TIER_END;
        context_.battery_fraction = -1;
        context_.compute_power_w = 3.2;
        context_.power_source = "estimated:test";
        edge_.struct_size = sizeof edge_;
        edge_.connected = 1;
        edge_.bandwidth_bps = 50e6;
        edge_.rtt_ms = 5;
        context_.edge = &edge_;
    }
    tierd_decision decide(Instance &inst) {
        tierd_decision out{};
        out.struct_size = sizeof out;
        rc_ = inst.ops<tierd_scheduler_ops>()->decide(inst.get(), &task_, nullptr, &context_, &out);
        return out;
    }
    void with_profiles(uint64_t generation = 1) {
        context_.profiles_json = kProfiles;
        context_.profiles_generation = generation;
    }

    plugin_test::Library lib_{SCHEDULER_MO_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    tierd_task task_{};
    tierd_schedule_context context_{};
    tierd_link_state edge_{};
    int rc_ = TIERD_EPLUGIN;
};

TEST_F(SchedulerMo, WithoutProfilesItRunsHereAndSaysWhy) {
    Instance inst(d_, {});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    tierd_decision out = decide(inst);
    ASSERT_EQ(rc_, TIERD_OK);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_NE(std::string(out.reason).find("no profiles"), std::string::npos) << out.reason;
}

TEST_F(SchedulerMo, LatencyPolicyFollowsTheLink) {
    Instance inst(d_, {{"policy", "latency"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    with_profiles();
    // A fast link: the heavy model on the edge (5 ms + transfer + 3 ms) beats 15 ms here.
    tierd_decision out = decide(inst);
    ASSERT_EQ(rc_, TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_STREQ(out.model, "heavy");
    EXPECT_EQ(out.split_layer, -1);
    // A slow, far link: the light model here.
    edge_.bandwidth_bps = 0.2e6;
    edge_.rtt_ms = 80;
    out = decide(inst);
    EXPECT_EQ(out.tier, TIERD_TIER_END) << out.reason;
    EXPECT_STREQ(out.model, "light");
    // The edge offline: never placed there.
    edge_.connected = 0;
    edge_.bandwidth_bps = 1e9;
    edge_.rtt_ms = 0.1;
    EXPECT_EQ(decide(inst).tier, TIERD_TIER_END);
    // Counters reach the host every 64 decisions.
    for (int i = 0; i < 61; ++i)
        decide(inst);
    EXPECT_EQ(inst.host().counters["decisions"], 64.0);
    EXPECT_EQ(inst.host().counters["end"] + inst.host().counters["edge"], 64.0);
}

TEST_F(SchedulerMo, ForcedSplitFillsCutAndWire) {
    Instance inst(d_, {{"force", "split:edge:heavy:50:i8"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    with_profiles();
    tierd_decision out = decide(inst);
    ASSERT_EQ(rc_, TIERD_OK);
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_STREQ(out.model, "heavy");
    EXPECT_EQ(out.split_layer, 50);
    EXPECT_STREQ(out.wire, "i8");
}

TEST_F(SchedulerMo, BytesPolicyPrefersTheSmallTensorOverTheImage) {
    // Fewest bytes among the options that are accurate (heavy) and in time (not the
    // heavy model here): the 64-value i8 tensor (72 B + header) beats the 784 B image.
    Instance inst(d_, {{"policy", "constraints"},
                       {"minimise", "bytes"},
                       {"min_accuracy", "0.9"},
                       {"deadline_ms", "40"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    with_profiles();
    tierd_decision out = decide(inst);
    ASSERT_EQ(rc_, TIERD_OK);
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_EQ(out.split_layer, 50) << out.reason;
    EXPECT_STREQ(out.wire, "i8");
}

TEST_F(SchedulerMo, NewProfilesAreReadWhenTheirGenerationChanges) {
    Instance inst(d_, {{"policy", "latency"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    decide(inst); // generation 0, no profiles
    with_profiles(7);
    EXPECT_EQ(decide(inst).tier, TIERD_TIER_EDGE);
    // Garbage under a new generation: back to local, and the reason says why.
    context_.profiles_json = "{\"end\": 5}";
    context_.profiles_generation = 8;
    tierd_decision out = decide(inst);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_NE(std::string(out.reason).find("profiles unusable"), std::string::npos) << out.reason;
}

TEST_F(SchedulerMo, BadPolicyFailsCreateNamingTheKey) {
    Instance inst(d_, {{"order", "latency,speed"}, {"policy", "lexicographic"}});
    EXPECT_EQ(inst.create_rc(), TIERD_ECONFIG);
    EXPECT_NE(inst.host().last_error.find("order"), std::string::npos) << inst.host().last_error;
}

} // namespace
