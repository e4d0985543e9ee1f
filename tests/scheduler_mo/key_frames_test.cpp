// Key-frame scheduling (core/key_frames.hpp) on hand-built stream states and links: the
// every-K cadence, each trigger, the min gap, the in-flight cap, the link and energy
// vetoes, the choice of the upstream tier, the upstream mode, and config validation.
#include "core/key_frames.hpp"
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace scheduler_mo;
using namespace scheduler_mo::testing;

constexpr double kFramePixels = 640.0 * 360.0; // 34560 bytes at 0.15 B/px

// Edge: 10 Mbit/s, rtt 5 ms; cloud: 20 Mbit/s, rtt 40 ms (the fixture's links).
KeyFrameInput frame(std::int64_t index, std::int64_t last_key_frame) {
    KeyFrameInput input;
    input.stream.frame_index = index;
    input.stream.last_key_frame = last_key_frame;
    input.stream.frame_interval_ms = 40;
    input.edge = UpstreamTier{true, true, false, 10e6, 5, 1};
    input.cloud = UpstreamTier{true, true, false, 20e6, 40, 2};
    input.frame_pixels = kFramePixels;
    return input;
}

KeyFramePolicy policy(const ConfigMap &map, const Settings &placement = fixture_settings()) {
    return KeyFramePolicy(parse_key_frame_settings(map), placement, fixture_power());
}

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

void expect_error(const ConfigMap &map, const std::string &part) {
    try {
        parse_key_frame_settings(map);
        ADD_FAILURE() << "no error, expected one about " << part;
    } catch (const std::invalid_argument &error) {
        EXPECT_TRUE(contains(error.what(), part)) << error.what();
    }
}

TEST(KeyFrameSettings, DefaultsAndEveryKey) {
    KeyFrameSettings defaults = parse_key_frame_settings(ConfigMap{});
    EXPECT_EQ(defaults.mode, KeyFrameMode::off);
    EXPECT_EQ(defaults.interval, 10);
    EXPECT_EQ(defaults.min_gap, 3);
    EXPECT_EQ(defaults.max_in_flight, 2);
    KeyFrameSettings s =
        parse_key_frame_settings(ConfigMap{{"key_frames", std::string("trigger")},
                                           {"key_frame_interval", 30.0},
                                           {"key_frame_min_gap", std::string("5")},
                                           {"key_frame_max_gap_ms", 1500.0},
                                           {"key_frame_scene_change", 0.2},
                                           {"key_frame_score_floor", 0.4},
                                           {"key_frame_objects_change", 2.0},
                                           {"key_frame_max_in_flight", 1.0},
                                           {"key_frame_bytes", 20000.0},
                                           {"key_frame_max_energy_j", 0.5},
                                           {"key_frame_model", std::string("det-heavy")},
                                           {"policy", std::string("weighted")}});
    EXPECT_EQ(s.mode, KeyFrameMode::trigger);
    EXPECT_EQ(s.interval, 30);
    EXPECT_EQ(s.min_gap, 5);
    EXPECT_DOUBLE_EQ(s.max_gap_ms, 1500);
    EXPECT_DOUBLE_EQ(s.scene_change, 0.2);
    EXPECT_DOUBLE_EQ(s.score_floor, 0.4);
    EXPECT_EQ(s.objects_change, 2);
    EXPECT_EQ(s.max_in_flight, 1);
    EXPECT_DOUBLE_EQ(s.frame_bytes, 20000);
    EXPECT_DOUBLE_EQ(s.max_energy_j, 0.5);
    EXPECT_EQ(s.model, "det-heavy");
    for (const char *mode : {"off", "every", "trigger", "upstream"})
        EXPECT_STREQ(key_frame_mode_name(*parse_key_frame_mode(mode)), mode);
}

TEST(KeyFrameSettings, BadValuesNameTheKey) {
    expect_error({{"key_frames", std::string("sometimes")}},
                 "key_frames: unknown mode \"sometimes\"");
    expect_error({{"key_frame_interval", 0.0}}, "key_frame_interval: must be >= 1, got 0");
    expect_error({{"key_frame_interval", 2.5}}, "key_frame_interval: must be a whole number");
    expect_error({{"key_frame_interval", std::string("ten")}}, "key_frame_interval");
    expect_error({{"key_frame_min_gap", 0.0}}, "key_frame_min_gap: must be >= 1");
    expect_error({{"key_frame_max_in_flight", 0.0}}, "key_frame_max_in_flight: must be >= 1");
    expect_error({{"key_frame_scene_change", 1.5}}, "key_frame_scene_change: must be in [0, 1]");
    expect_error({{"key_frame_score_floor", -0.1}}, "key_frame_score_floor: must be in [0, 1]");
    expect_error({{"key_frame_objects_change", -1.0}}, "key_frame_objects_change: must be >= 0");
    expect_error({{"key_frame_max_gap_ms", -5.0}}, "key_frame_max_gap_ms: must be >= 0");
    expect_error({{"key_frame_bytes", -1.0}}, "key_frame_bytes: must be >= 0");
    expect_error({{"key_frame_max_energy_j", -1.0}}, "key_frame_max_energy_j: must be >= 0");
    expect_error({{"key_frame_model", 3.0}}, "key_frame_model");
}

TEST(KeyFrames, OffLeavesThePlacementToThePolicy) {
    KeyFramePolicy p = policy({});
    EXPECT_FALSE(p.enabled());
    KeyFrameDecision d = p.decide(frame(0, -1));
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_EQ(d.reason, "");
}

TEST(KeyFrames, EveryKFramesFromTheFirst) {
    KeyFramePolicy p = policy({{"key_frames", std::string("every")}, {"key_frame_interval", 10.0}});
    std::vector<std::int64_t> keys;
    std::int64_t last = -1;
    for (std::int64_t i = 0; i < 25; ++i) {
        KeyFrameDecision d = p.decide(frame(i, last));
        if (d.action == KeyFrameAction::key_frame) {
            keys.push_back(i);
            last = i;
            EXPECT_EQ(d.tier, Tier::edge) << d.reason; // answers first: 28 ms up + 5 + 1
            EXPECT_TRUE(contains(d.reason, i == 0 ? "key frame: first" : "key frame: every 10"))
                << d.reason;
            EXPECT_TRUE(contains(d.reason, "edge")) << d.reason;
        } else {
            EXPECT_EQ(d.action, KeyFrameAction::local);
            EXPECT_TRUE(contains(d.reason, "no key frame")) << d.reason;
        }
        EXPECT_LE(d.reason.size(), kKeyFrameReasonMax);
    }
    EXPECT_EQ(keys, (std::vector<std::int64_t>{0, 10, 20}));
    // A key frame the host could not send (last_key_frame stays): the next frame is one.
    EXPECT_EQ(p.decide(frame(31, 20)).action, KeyFrameAction::key_frame);
}

TEST(KeyFrames, EveryKeepsItsCadenceOnASlowLinkButNotWhenUnreachable) {
    KeyFramePolicy p = policy({{"key_frames", std::string("every")}, {"key_frame_interval", 10.0}});
    KeyFrameInput slow = frame(10, 0);
    slow.edge.bandwidth_bps = 0.1e6;
    slow.cloud.bandwidth_bps = 0.1e6;
    slow.stream.key_frames_in_flight = 5;
    EXPECT_EQ(p.decide(slow).action, KeyFrameAction::key_frame);

    KeyFrameInput down = frame(10, 0);
    down.edge.connected = false;
    down.cloud.degraded = true;
    KeyFrameDecision d = p.decide(down);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: no upstream")) << d.reason;
    EXPECT_TRUE(contains(d.reason, "edge offline")) << d.reason;
    EXPECT_TRUE(contains(d.reason, "cloud degraded")) << d.reason;

    // Only the edge down: the cloud takes the key frame.
    down.cloud.degraded = false;
    d = p.decide(down);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_EQ(d.tier, Tier::cloud);

    // No tier known at all (an end without upstream).
    KeyFrameInput alone = frame(10, 0);
    alone.edge = UpstreamTier{};
    alone.cloud = UpstreamTier{};
    EXPECT_EQ(p.decide(alone).action, KeyFrameAction::local);
}

ConfigMap trigger_config() {
    return {{"key_frames", std::string("trigger")}};
}

TEST(KeyFrames, TriggerOnTheFirstFrameAndAfterTheMaxGap) {
    KeyFramePolicy p = policy(trigger_config());
    KeyFrameDecision d = p.decide(frame(0, -1));
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "key frame: first")) << d.reason;
    // 40 ms frames: 50 frames = 2000 ms is not more than the 2000 ms maximum; 51 is.
    EXPECT_EQ(p.decide(frame(60, 10)).action, KeyFrameAction::local);
    d = p.decide(frame(61, 10));
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "key frame: max gap 2040ms")) << d.reason;
    // Unknown frame interval: 40 ms assumed.
    KeyFrameInput unknown = frame(61, 10);
    unknown.stream.frame_interval_ms = 0;
    EXPECT_EQ(p.decide(unknown).action, KeyFrameAction::key_frame);
    // 10 ms frames: 51 frames are 510 ms, no trigger.
    KeyFrameInput fast = frame(61, 10);
    fast.stream.frame_interval_ms = 10;
    EXPECT_EQ(p.decide(fast).action, KeyFrameAction::local);
}

TEST(KeyFrames, TriggerOnSceneChange) {
    KeyFramePolicy p = policy(trigger_config());
    KeyFrameInput f = frame(20, 10);
    f.stream.scene_change = 0.31;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "key frame: scene change 0.31")) << d.reason;
    f.stream.scene_change = 0.1; // below 0.15
    d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: no trigger")) << d.reason;
    f.stream.scene_change = -1; // unknown
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::local);
    // Threshold 0: off.
    KeyFramePolicy off =
        policy({{"key_frames", std::string("trigger")}, {"key_frame_scene_change", 0.0}});
    f.stream.scene_change = 0.9;
    EXPECT_EQ(off.decide(f).action, KeyFrameAction::local);
}

TEST(KeyFrames, TriggerOnLowLocalScore) {
    KeyFramePolicy p = policy(trigger_config());
    KeyFrameInput f = frame(20, 10);
    f.stream.local_detections = 3;
    f.stream.local_mean_score = 0.42;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "key frame: low score 0.42")) << d.reason;
    f.stream.local_mean_score = 0.7;
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::local);
    f.stream.local_mean_score = -1; // unknown: not a trigger
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::local);
}

TEST(KeyFrames, TriggerOnObjectsEnteringOrLeaving) {
    KeyFramePolicy p = policy(trigger_config());
    KeyFrameInput f = frame(20, 10);
    f.stream.local_detections_change = 1;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "key frame: objects +1")) << d.reason;
    f.stream.local_detections_change = -2;
    d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "key frame: objects -2")) << d.reason;
    f.stream.local_detections_change = 0;
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::local);
    KeyFramePolicy two =
        policy({{"key_frames", std::string("trigger")}, {"key_frame_objects_change", 2.0}});
    f.stream.local_detections_change = 1;
    EXPECT_EQ(two.decide(f).action, KeyFrameAction::local);
}

TEST(KeyFrames, TriggerRespectsTheMinGap) {
    KeyFramePolicy p = policy(trigger_config()); // min gap 3
    KeyFrameInput f = frame(12, 10);
    f.stream.scene_change = 0.8;
    f.stream.local_detections_change = 4;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: min gap 2<3")) << d.reason;
    f.stream.frame_index = 13;
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::key_frame);
}

TEST(KeyFrames, TriggerRespectsTheInFlightCap) {
    KeyFramePolicy p = policy(trigger_config()); // cap 2
    KeyFrameInput f = frame(20, 10);
    f.stream.scene_change = 0.8;
    f.stream.key_frames_in_flight = 2;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: 2 in flight")) << d.reason;
    f.stream.key_frames_in_flight = 1;
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::key_frame);
}

TEST(KeyFrames, TriggerSkipsWhenTheUploadDoesNotFitTheBudget) {
    // 34560 B at 0.5 Mbit/s: 553 ms up, more than 10 frames x 40 ms = 400 ms.
    KeyFramePolicy p = policy(trigger_config());
    KeyFrameInput f = frame(20, 10);
    f.stream.scene_change = 0.8;
    f.edge.bandwidth_bps = 0.5e6;
    f.cloud.bandwidth_bps = 0.5e6;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: link busy")) << d.reason;
    EXPECT_TRUE(contains(d.reason, "553ms>400ms")) << d.reason;
    // A configured, smaller frame fits: 10000 B = 160 ms.
    KeyFramePolicy small =
        policy({{"key_frames", std::string("trigger")}, {"key_frame_bytes", 10000.0}});
    d = small.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame) << d.reason;
    EXPECT_NEAR(d.upload_ms, 160, 1e-9);
    // One tier fast enough: that one.
    f.cloud.bandwidth_bps = 20e6;
    d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame) << d.reason;
    EXPECT_EQ(d.tier, Tier::cloud);
}

TEST(KeyFrames, TriggerSkipsWhenTheRadioEnergyExceedsTheBound) {
    // Edge: 34560 B at 10 Mbit/s = 27.6 ms at tx 1 W = 27.6 mJ (+ reply at 0.5 W).
    KeyFramePolicy p =
        policy({{"key_frames", std::string("trigger")}, {"key_frame_max_energy_j", 0.01}});
    KeyFrameInput f = frame(20, 10);
    f.stream.scene_change = 0.8;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: energy")) << d.reason;
    KeyFramePolicy loose =
        policy({{"key_frames", std::string("trigger")}, {"key_frame_max_energy_j", 0.05}});
    EXPECT_EQ(loose.decide(f).action, KeyFrameAction::key_frame);
}

TEST(KeyFrames, TriggerOnUnreachableOrDegradedUpstreamRunsHere) {
    KeyFramePolicy p = policy(trigger_config());
    KeyFrameInput f = frame(20, 10);
    f.stream.scene_change = 0.8;
    f.edge.degraded = true;
    f.cloud.connected = false;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: no upstream")) << d.reason;
}

TEST(KeyFrames, TheUpstreamTierIsTheOneThatAnswersFirst) {
    KeyFramePolicy p = policy({{"key_frames", std::string("every")}});
    // Edge 1 Mbit/s: 276 ms up; cloud 20 Mbit/s: 14 ms + 40 ms rtt.
    KeyFrameInput f = frame(0, -1);
    f.edge.bandwidth_bps = 1e6;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.tier, Tier::cloud) << d.reason;
    // An edge without a bandwidth estimate ranks after the cloud with one...
    f.edge.bandwidth_bps = 0;
    EXPECT_EQ(p.decide(f).tier, Tier::cloud);
    // ...but is used when it is the only one.
    f.cloud.connected = false;
    d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_EQ(d.tier, Tier::edge);
    EXPECT_LT(d.upload_ms, 0); // unknown
    // `tiers` without the edge: never the edge.
    Settings no_edge = fixture_settings();
    no_edge.use_edge = false;
    KeyFramePolicy cloud_only = policy({{"key_frames", std::string("every")}}, no_edge);
    EXPECT_EQ(cloud_only.decide(frame(0, -1)).tier, Tier::cloud);
}

TEST(KeyFrames, ProfilesDecideWhichTierHasTheModelAndHowLongItTakes) {
    ProfileSet profiles = parse_profile_set_text(kFixtureProfiles);
    // resnet-56 is only in the cloud's profile: the faster edge cannot run it.
    KeyFramePolicy p = policy(
        {{"key_frames", std::string("every")}, {"key_frame_model", std::string("resnet-56")}});
    p.set_profiles(profiles);
    KeyFrameDecision d = p.decide(frame(0, -1));
    EXPECT_EQ(d.tier, Tier::cloud) << d.reason;
    // Cloud: 34560*8/20e6 = 13.824 ms up + 40 rtt + 2 queue + 1.5 compute + reply.
    // The reply: the fixture settings' 200 bytes at the same rate.
    EXPECT_NEAR(d.answer_ms, 13.824 + 40 + 2 + 1.5 + 200 * 8 * 1000 / 20e6, 1e-6);
    KeyFrameInput f = frame(0, -1);
    f.cloud.connected = false;
    d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "edge lacks resnet-56")) << d.reason;
    // A model no profile lists anywhere is assumed available (profiles are of tiers that
    // measured; detection models may not be profiled).
    KeyFramePolicy unprofiled = policy(
        {{"key_frames", std::string("every")}, {"key_frame_model", std::string("det-heavy")}});
    unprofiled.set_profiles(profiles);
    EXPECT_EQ(unprofiled.decide(frame(0, -1)).action, KeyFrameAction::key_frame);
}

TEST(KeyFrames, UpstreamModePlacesEveryFrameUpstream) {
    KeyFramePolicy p = policy({{"key_frames", std::string("upstream")}});
    for (std::int64_t i = 0; i < 3; ++i) {
        KeyFrameDecision d = p.decide(frame(i, i - 1));
        EXPECT_EQ(d.action, KeyFrameAction::upstream);
        EXPECT_EQ(d.tier, Tier::edge);
        EXPECT_TRUE(contains(d.reason, "upstream: every frame")) << d.reason;
    }
    KeyFrameInput down = frame(3, 2);
    down.edge.connected = false;
    down.cloud.connected = false;
    KeyFrameDecision d = p.decide(down);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no upstream")) << d.reason;
}

} // namespace
