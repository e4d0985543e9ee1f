// scheduler-mo's key frames through its C ABI (1.4): a stream frame runs the light model
// here and, on key frames, is also sent up (tierd_decision.key_frame_tier/_model); the
// stream state and links come from hand-built tierd_schedule_context structs. A task
// without a stream, a 1.3-sized context or a 1.3-sized decision is placed as before, and
// bad key-frame settings fail create() naming the key.
#include "plugin_harness.hpp"

#include <cstddef>
#include <cstring>
#include <string>

namespace {

using plugin_test::Instance;
using plugin_test::Overrides;

// The end has the light detector, the edge the heavy one (as plugins/scheduler_mo_test).
const char *kProfiles = R"({
 "end": {"v":1,"device_id":"n","tier":"end","models":[
   {"name":"light","top1":0.86,"input_bytes":784,"full_ms":15,"cuts":[]},
   {"name":"heavy","top1":0.92,"input_bytes":784,"full_ms":70,"cuts":[]}]},
 "edge": {"v":1,"device_id":"e","tier":"edge","models":[
   {"name":"heavy","top1":0.92,"input_bytes":784,"full_ms":3,"cuts":[]}]},
 "cloud": null})";

bool contains(const char *text, const char *part) {
    return std::strstr(text, part) != nullptr;
}

class KeyFramesPlugin : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
        image_.struct_size = sizeof image_;
        image_.format = TIERD_PIXEL_BGR8;
        image_.width = 640;
        image_.height = 360;
        image_.stride_bytes = 640 * 3;
        task_.struct_size = sizeof task_;
        task_.task_id = "t1";
        task_.image = &image_;
        task_.stream = "video.avi";
        context_.struct_size = sizeof context_;
        context_.local_tier = TIERD_TIER_END;
        context_.battery_fraction = -1;
        context_.compute_power_w = 3.2;
        context_.power_source = "estimated:test";
        edge_.struct_size = sizeof edge_;
        edge_.connected = 1;
        edge_.bandwidth_bps = 50e6;
        edge_.rtt_ms = 5;
        edge_.queue_depth = -1;
        context_.edge = &edge_;
        stream_.struct_size = sizeof stream_;
        stream_.last_key_frame = -1;
        stream_.frame_interval_ms = 40;
        stream_.upstream_age_ms = -1;
        stream_.local_detections = -1;
        stream_.local_mean_score = -1;
        stream_.scene_change = -1;
        stream_.warp_error = -1;
        stream_.warp_error_frame = -1;
        stream_.warp_error_key_frame = -1;
        context_.stream = &stream_;
    }
    tierd_decision decide(Instance &inst, uint32_t decision_size = sizeof(tierd_decision)) {
        tierd_decision out{};
        out.struct_size = decision_size;
        rc_ = inst.ops<tierd_scheduler_ops>()->decide(inst.get(), &task_, nullptr, &context_, &out);
        return out;
    }
    // Frame `index`, the last key frame being `last`.
    tierd_decision frame(Instance &inst, int64_t index, int64_t last) {
        task_.frame_index = index;
        stream_.frame_index = index;
        stream_.last_key_frame = last;
        return decide(inst);
    }

    plugin_test::Library lib_{SCHEDULER_MO_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    tierd_image image_{};
    tierd_task task_{};
    tierd_schedule_context context_{};
    tierd_link_state edge_{};
    tierd_stream_state stream_{};
    int rc_ = TIERD_EPLUGIN;
};

TEST_F(KeyFramesPlugin, EveryKFramesTheFrameAlsoGoesUpWithoutProfiles) {
    Instance inst(d_, {{"key_frames", "every"},
                       {"key_frame_interval", "5"},
                       {"light_model", "light"},
                       {"key_frame_model", "heavy"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    int64_t last = -1;
    int key_frames = 0;
    for (int64_t i = 0; i < 12; ++i) {
        tierd_decision out = frame(inst, i, last);
        ASSERT_EQ(rc_, TIERD_OK) << inst.host().last_error;
        EXPECT_EQ(out.tier, TIERD_TIER_END) << out.reason;
        EXPECT_STREQ(out.model, "light");
        EXPECT_EQ(out.split_layer, -1);
        if (i % 5 == 0) {
            EXPECT_EQ(out.key_frame_tier, TIERD_TIER_EDGE) << i << ": " << out.reason;
            EXPECT_STREQ(out.key_frame_model, "heavy");
            EXPECT_TRUE(contains(out.reason, i == 0 ? "key frame: first" : "key frame: every 5"))
                << out.reason;
            last = i;
            ++key_frames;
        } else {
            EXPECT_EQ(out.key_frame_tier, 0) << i << ": " << out.reason;
            EXPECT_STREQ(out.key_frame_model, "");
            EXPECT_TRUE(contains(out.reason, "no key frame")) << out.reason;
        }
    }
    EXPECT_EQ(key_frames, 3);
}

TEST_F(KeyFramesPlugin, TriggerOnSceneChangeAndNotWhileTheEdgeIsDegraded) {
    Instance inst(d_, {{"key_frames", "trigger"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    stream_.scene_change = 0.31;
    tierd_decision out = frame(inst, 20, 10);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_EQ(out.key_frame_tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_STREQ(out.key_frame_model, ""); // the edge's default
    EXPECT_STREQ(out.model, "");           // the inference default here
    EXPECT_TRUE(contains(out.reason, "key frame: scene change 0.31")) << out.reason;
    edge_.degraded = 1;
    out = frame(inst, 20, 10);
    EXPECT_EQ(out.tier, TIERD_TIER_END);
    EXPECT_EQ(out.key_frame_tier, 0) << out.reason;
    EXPECT_TRUE(contains(out.reason, "no key frame: no upstream (edge degraded")) << out.reason;
    edge_.degraded = 0;
    edge_.connected = 0;
    out = frame(inst, 20, 10);
    EXPECT_EQ(out.key_frame_tier, 0) << out.reason;
    EXPECT_TRUE(contains(out.reason, "edge offline")) << out.reason;
    // The link busy: 640x360 x 0.15 B = 34560 B at 0.5 Mbit/s is 553 ms > 10 x 40 ms.
    edge_.connected = 1;
    edge_.bandwidth_bps = 0.5e6;
    out = frame(inst, 20, 10);
    EXPECT_EQ(out.key_frame_tier, 0) << out.reason;
    EXPECT_TRUE(contains(out.reason, "no key frame: link busy")) << out.reason;
}

TEST_F(KeyFramesPlugin, InFlightCapAndMinGapComeFromTheStreamState) {
    Instance inst(d_, {{"key_frames", "trigger"}, {"key_frame_max_in_flight", "1"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    stream_.local_detections_change = 1;
    stream_.key_frames_in_flight = 1;
    tierd_decision out = frame(inst, 20, 10);
    EXPECT_EQ(out.key_frame_tier, 0);
    EXPECT_TRUE(contains(out.reason, "no key frame: 1 in flight")) << out.reason;
    stream_.key_frames_in_flight = 0;
    out = frame(inst, 11, 10);
    EXPECT_EQ(out.key_frame_tier, 0);
    EXPECT_TRUE(contains(out.reason, "min gap")) << out.reason;
    out = frame(inst, 13, 10);
    EXPECT_EQ(out.key_frame_tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_TRUE(contains(out.reason, "objects +1")) << out.reason;
}

TEST_F(KeyFramesPlugin, TheFusionsWarpErrorTriggersAKeyFrame) {
    Instance inst(d_, {{"key_frames", "trigger"},
                       {"key_frame_max_gap_ms", "0"},
                       {"key_frame_objects_change", "0"},
                       {"key_frame_warp_error", "0.05"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    // ABI 1.6: measured 0.06 on frame 19 with the answer about key frame 10.
    stream_.warp_error = 0.06;
    stream_.warp_error_frame = 19;
    stream_.warp_error_key_frame = 10;
    tierd_decision out = frame(inst, 20, 10);
    EXPECT_EQ(out.key_frame_tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_TRUE(contains(out.reason, "key frame: warp 0.0")) << out.reason;
    // A 1.5 host's stream state ends before the warp error: the plugin does not read it.
    stream_.struct_size = offsetof(tierd_stream_state, warp_error);
    out = frame(inst, 20, 10);
    EXPECT_EQ(out.key_frame_tier, 0) << out.reason;
    EXPECT_TRUE(contains(out.reason, "no trigger")) << out.reason;
}

TEST_F(KeyFramesPlugin, TheShareBudgetIsKeptPerStream) {
    Instance inst(d_, {{"key_frames", "trigger"},
                       {"key_frame_min_gap", "1"},
                       {"key_frame_max_in_flight", "100"},
                       {"key_frame_scene_change", "0.1"},
                       {"key_frame_max_share", "0.1"},
                       {"key_frame_share_window", "20"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    stream_.scene_change = 0.5; // a trigger on every frame
    auto run = [&](const char *stream, int frames) {
        task_.stream = stream;
        int64_t last = -1;
        int sent = 0;
        for (int64_t i = 0; i < frames; ++i) {
            tierd_decision out = frame(inst, i, last);
            if (out.key_frame_tier != 0) {
                last = i;
                ++sent;
            } else if (last >= 0) {
                EXPECT_TRUE(contains(out.reason, "share 0.1 spent")) << i << ": " << out.reason;
            }
        }
        return sent;
    };
    // The first frame, then one every 10 frames (10, 20, ..., 90): 10 in 100 frames.
    EXPECT_EQ(run("a.avi", 100), 10);
    // Another stream has its own budget: 0 and 10.
    EXPECT_EQ(run("b.avi", 20), 2);
}

TEST_F(KeyFramesPlugin, UpstreamModePlacesTheFrameOnTheEdge) {
    Instance inst(d_, {{"key_frames", "upstream"}, {"key_frame_model", "heavy"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    tierd_decision out = frame(inst, 3, 2);
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_STREQ(out.model, "heavy");
    EXPECT_EQ(out.key_frame_tier, 0);
    edge_.connected = 0;
    out = frame(inst, 4, 3);
    EXPECT_EQ(out.tier, TIERD_TIER_END) << out.reason;
}

// The placement the weighted/latency machinery makes (the heavy model on the fast edge).
void expect_placed_as_before(const tierd_decision &out) {
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_STREQ(out.model, "heavy");
    EXPECT_EQ(out.key_frame_tier, 0);
    EXPECT_FALSE(contains(out.reason, "key frame")) << out.reason;
}

TEST_F(KeyFramesPlugin, TasksWithoutAStreamOrFromAnOlderHostArePlacedAsBefore) {
    Instance inst(d_, {{"policy", "latency"}, {"key_frames", "every"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    context_.profiles_json = kProfiles;
    context_.profiles_generation = 1;
    // No stream.
    context_.stream = nullptr;
    task_.stream = nullptr;
    task_.frame_index = -1;
    tierd_decision out = decide(inst);
    ASSERT_EQ(rc_, TIERD_OK) << inst.host().last_error;
    expect_placed_as_before(out);
    // A 1.3 host: its context ends before `stream` (whatever lies there is not read).
    context_.stream = &stream_;
    context_.struct_size = offsetof(tierd_schedule_context, stream);
    expect_placed_as_before(decide(inst));
    // A 1.3-sized decision: the key-frame fields are not the plugin's to write. (Today
    // the SDK's trampoline refuses any decision smaller than the plugin's own struct with
    // TIERD_EINVAL before the plugin sees it; the plugin guards the fields as well.)
    context_.struct_size = sizeof context_;
    tierd_decision small{};
    small.struct_size = offsetof(tierd_decision, key_frame_tier);
    // A canary past the struct's end (a valid enum value: UBSan checks loads of enums).
    small.key_frame_tier = TIERD_TIER_CLOUD;
    rc_ = inst.ops<tierd_scheduler_ops>()->decide(inst.get(), &task_, nullptr, &context_, &small);
    EXPECT_TRUE(rc_ == TIERD_OK || rc_ == TIERD_EINVAL) << rc_;
    EXPECT_EQ(small.key_frame_tier, TIERD_TIER_CLOUD);
    if (rc_ == TIERD_OK) {
        EXPECT_EQ(small.tier, TIERD_TIER_EDGE) << small.reason;
    }
    // With the 1.4 structs, the same frame is a key frame and runs here.
    tierd_decision frame14 = decide(inst);
    EXPECT_EQ(frame14.tier, TIERD_TIER_END) << frame14.reason;
    EXPECT_EQ(frame14.key_frame_tier, TIERD_TIER_EDGE) << frame14.reason;
}

TEST_F(KeyFramesPlugin, KeyFramesOffPlacesStreamFramesAsAnyTask) {
    Instance inst(d_, {{"policy", "latency"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    context_.profiles_json = kProfiles;
    context_.profiles_generation = 1;
    expect_placed_as_before(frame(inst, 0, -1));
}

// Profiles that list detectors beside the classifiers (the profile command marks them
// "kind": "detector" with their map50): under key_frames = off a stream frame chooses among
// the detectors and their tiers — the pruned light detector here or the heavy one on the
// edge, one decision — while a task without a stream still chooses among classifiers.
TEST_F(KeyFramesPlugin, KeyFramesOffChoosesAmongTheDetectorsForStreamFrames) {
    const char *profiles = R"({
     "end": {"v":1,"device_id":"n","tier":"end","models":[
       {"name":"cnn","top1":0.88,"input_bytes":784,"full_ms":1,"cuts":[]},
       {"name":"det-light","kind":"detector","top1":-1,"map50":0.25,"input_bytes":168960,
        "full_ms":280,"cuts":[]},
       {"name":"det-light-p40","kind":"detector","top1":-1,"map50":0.35,"input_bytes":168960,
        "full_ms":70,"cuts":[]}]},
     "edge": {"v":1,"device_id":"e","tier":"edge","models":[
       {"name":"resnet","top1":0.92,"input_bytes":784,"full_ms":1.5,"cuts":[]},
       {"name":"det-heavy","kind":"detector","top1":-1,"map50":0.34,"input_bytes":675840,
        "full_ms":32,"cuts":[]}]},
     "cloud": null})";
    Instance inst(d_, {{"policy", "latency"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    context_.profiles_json = profiles;
    context_.profiles_generation = 1;
    // Fast link: det-heavy's 675,840 bytes take 5.4 ms at 1 Gbit/s, + 5 ms RTT + 32 ms
    // there, under det-light-p40's 70 ms here.
    edge_.bandwidth_bps = 1e9;
    tierd_decision out = frame(inst, 0, -1);
    ASSERT_EQ(rc_, TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(out.tier, TIERD_TIER_EDGE) << out.reason;
    EXPECT_STREQ(out.model, "det-heavy") << out.reason;
    // Slow link (10 Mbit/s: 540 ms to send the frame): the pruned detector here.
    edge_.bandwidth_bps = 10e6;
    out = frame(inst, 1, -1);
    EXPECT_EQ(out.tier, TIERD_TIER_END) << out.reason;
    EXPECT_STREQ(out.model, "det-light-p40") << out.reason;
    // An image (no stream) chooses among the classifiers.
    context_.stream = nullptr;
    task_.stream = nullptr;
    task_.frame_index = -1;
    out = decide(inst);
    EXPECT_STREQ(out.model, "cnn") << out.reason;
    // `models` naming one detector keeps the frames to it (and the images to the named
    // classifiers, here none: they run here unplaced).
    Instance only(d_, {{"policy", "latency"}, {"models", "det-light"}});
    ASSERT_EQ(only.create_rc(), TIERD_OK) << only.host().last_error;
    context_.stream = &stream_;
    task_.stream = "video.avi";
    out = frame(only, 2, -1);
    EXPECT_EQ(out.tier, TIERD_TIER_END) << out.reason;
    EXPECT_STREQ(out.model, "det-light") << out.reason;
}

TEST_F(KeyFramesPlugin, BadSettingsFailCreateNamingTheKey) {
    {
        Instance inst(d_, {{"key_frames", "sometimes"}});
        EXPECT_EQ(inst.create_rc(), TIERD_ECONFIG);
        EXPECT_TRUE(contains(inst.host().last_error.c_str(), "key_frames"))
            << inst.host().last_error;
    }
    {
        Instance inst(d_, {{"key_frames", "every"}, {"key_frame_interval", "0"}});
        EXPECT_EQ(inst.create_rc(), TIERD_ECONFIG);
        EXPECT_TRUE(contains(inst.host().last_error.c_str(), "key_frame_interval: must be >= 1"))
            << inst.host().last_error;
    }
    {
        // reload() refuses too, and the running settings stay.
        Instance inst(d_, {{"key_frames", "every"}, {"key_frame_interval", "5"}});
        ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
        EXPECT_EQ(inst.reload({{"key_frames", "every"}, {"key_frame_interval", "0"}}),
                  TIERD_ECONFIG);
        EXPECT_EQ(frame(inst, 5, 0).key_frame_tier, TIERD_TIER_EDGE);
        EXPECT_EQ(frame(inst, 4, 0).key_frame_tier, 0);
    }
}

} // namespace
