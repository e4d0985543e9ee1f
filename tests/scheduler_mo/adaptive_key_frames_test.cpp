// Adaptive key frames with features (issue 17, section 3; core/key_frames.hpp): the warp
// error trigger — the fusion plugin's warp error extrapolated to when an answer sent now
// would be used, so a slower link sends earlier — and the per-stream share budget that
// bounds how many frames go up while the triggers choose which.
#include "core/key_frames.hpp"
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <tuple>

namespace {

using namespace scheduler_mo;
using namespace scheduler_mo::testing;

constexpr double kFramePixels = 640.0 * 360.0; // 34560 bytes at 0.15 B/px

// Only the warp error trigger (threshold 0.05): the others off.
KeyFramePolicy warp_policy(double threshold = 0.05) {
    return KeyFramePolicy(parse_key_frame_settings({{"key_frames", std::string("trigger")},
                                                    {"key_frame_max_gap_ms", 0.0},
                                                    {"key_frame_scene_change", 0.0},
                                                    {"key_frame_score_floor", 0.0},
                                                    {"key_frame_objects_change", 0.0},
                                                    {"key_frame_warp_error", threshold}}),
                          fixture_settings(), fixture_power());
}

// Frame 20 of a 25 fps stream whose last key frame is 10; the fusion measured `warp` on
// frame 19 with the answer about frame 10. Edge at `edge_bps`, rtt 5 ms; no cloud.
KeyFrameInput frame(double warp, double edge_bps = 10e6) {
    KeyFrameInput input;
    input.stream.frame_index = 20;
    input.stream.last_key_frame = 10;
    input.stream.frame_interval_ms = 40;
    input.stream.warp_error = warp;
    input.stream.warp_error_frame = 19;
    input.stream.warp_error_key_frame = 10;
    input.edge = UpstreamTier{true, true, false, edge_bps, 5, 1};
    input.frame_pixels = kFramePixels;
    return input;
}

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

TEST(AdaptiveKeyFrames, SettingsAndTheirBounds) {
    KeyFrameSettings s = parse_key_frame_settings({{"key_frame_warp_error", 0.06},
                                                   {"key_frame_max_share", 0.1},
                                                   {"key_frame_share_window", 50.0}});
    EXPECT_DOUBLE_EQ(s.warp_error, 0.06);
    EXPECT_DOUBLE_EQ(s.max_share, 0.1);
    EXPECT_EQ(s.share_window, 50);
    KeyFrameSettings defaults = parse_key_frame_settings({});
    EXPECT_EQ(defaults.warp_error, 0); // off
    EXPECT_EQ(defaults.max_share, 0);  // no bound
    EXPECT_EQ(defaults.share_window, 100);
    for (const auto &[key, value, message] :
         {std::tuple{"key_frame_warp_error", 1.5, "key_frame_warp_error: must be in [0, 1]"},
          std::tuple{"key_frame_max_share", -0.1, "key_frame_max_share: must be in [0, 1]"},
          std::tuple{"key_frame_share_window", 0.0, "key_frame_share_window: must be >= 1"}}) {
        try {
            parse_key_frame_settings({{key, value}});
            ADD_FAILURE() << "no error for " << key;
        } catch (const std::invalid_argument &e) {
            EXPECT_TRUE(contains(e.what(), message)) << e.what();
        }
    }
}

TEST(AdaptiveKeyFrames, AGrowingWarpErrorTriggersAKeyFrame) {
    KeyFramePolicy p = warp_policy();
    // 0.03 after 9 frames grows ~0.0033 a frame; the answer (34.6 kB at 10 Mbit/s + 6 ms,
    // under one 40 ms frame) would serve frame ~21: 0.03 + 0.0033 x 1.9 < 0.05.
    KeyFrameDecision d = p.decide(frame(0.03));
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: no trigger")) << d.reason;
    // 0.045 now: 0.045 + 0.005 x 1.9 = 0.054.
    d = p.decide(frame(0.045));
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "key frame: warp 0.0542 (0.045 at 19)")) << d.reason;
    EXPECT_EQ(d.tier, Tier::edge);
    // Off at 0, whatever the warp error.
    EXPECT_EQ(warp_policy(0).decide(frame(0.9)).action, KeyFrameAction::local);
}

TEST(AdaptiveKeyFrames, ASlowerLinkSendsEarlier) {
    KeyFramePolicy p = warp_policy();
    // The same 0.03 at 1 Mbit/s: the upload alone takes 276 ms (~7 frames), so by the time
    // the answer is used the warp error will be ~0.057.
    EXPECT_EQ(p.decide(frame(0.03, 10e6)).action, KeyFrameAction::local);
    KeyFrameDecision d = p.decide(frame(0.03, 1e6));
    EXPECT_EQ(d.action, KeyFrameAction::key_frame);
    EXPECT_TRUE(contains(d.reason, "warp 0.05")) << d.reason;
    // Without a bandwidth estimate only the frames since the measurement count.
    EXPECT_EQ(p.decide(frame(0.03, 0)).action, KeyFrameAction::local);
}

TEST(AdaptiveKeyFrames, AWarpErrorAboutAnOlderAnswerOrNoneIsNotUsed) {
    KeyFramePolicy p = warp_policy();
    KeyFrameInput f = frame(0.2);
    ASSERT_EQ(p.decide(f).action, KeyFrameAction::key_frame);
    // A newer key frame (15) went up after the answer the error is about (10): wait for it.
    f.stream.last_key_frame = 15;
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::local);
    // None measured (a fusion plugin that does not report it, or no answer fused yet).
    f = frame(-1);
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::local);
    f = frame(0.2);
    f.stream.warp_error_frame = -1;
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::local);
}

TEST(AdaptiveKeyFrames, TheMinGapAndInFlightCapStillHold) {
    KeyFramePolicy p = warp_policy();
    KeyFrameInput f = frame(0.2);
    f.stream.frame_index = 12; // 2 frames after the key frame (min gap 3)
    f.stream.warp_error_frame = 11;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "min gap 2<3 (warp")) << d.reason;
}

TEST(AdaptiveKeyFrames, ASpentShareBudgetVetoesEveryTrigger) {
    KeyFramePolicy p =
        KeyFramePolicy(parse_key_frame_settings(
                           {{"key_frames", std::string("trigger")}, {"key_frame_max_share", 0.1}}),
                       fixture_settings(), fixture_power());
    KeyFrameInput f = frame(0.2);
    f.stream.scene_change = 0.9;
    f.budget = 0.95;
    KeyFrameDecision d = p.decide(f);
    EXPECT_EQ(d.action, KeyFrameAction::local);
    EXPECT_TRUE(contains(d.reason, "no key frame: share 0.1 spent (scene change 0.9)")) << d.reason;
    f.budget = 1.0;
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::key_frame);
    f.budget = -1; // no budget
    EXPECT_EQ(p.decide(f).action, KeyFrameAction::key_frame);
}

TEST(KeyFrameBudget, BoundsTheLongRunShare) {
    KeyFrameBudget budget(0.1, 100); // holds at most 10
    int sent = 0;
    for (std::int64_t i = 0; i < 1000; ++i)
        if (budget.available("cam", i) >= 1) {
            budget.spend("cam", i);
            ++sent;
        }
    // The first, then one every 10 frames: 0, 10, ..., 990.
    EXPECT_EQ(sent, 100);
    // A still stretch refills it, up to the cap.
    EXPECT_NEAR(budget.available("cam", 1050), 5.0, 1.0);
    EXPECT_DOUBLE_EQ(budget.available("cam", 5000), 10.0);
}

TEST(KeyFrameBudget, StreamsAreSeparateAndARestartRefills) {
    KeyFrameBudget budget(0.5, 4); // holds 2, starts with 1
    budget.spend("a", 0);
    EXPECT_DOUBLE_EQ(budget.available("a", 0), 0.0);
    EXPECT_DOUBLE_EQ(budget.available("b", 0), 1.0);
    EXPECT_DOUBLE_EQ(budget.available("a", 1), 0.5);
    EXPECT_DOUBLE_EQ(budget.available("a", 9), 2.0); // at most 2
    EXPECT_DOUBLE_EQ(budget.available("a", 0), 1.0); // frame 0 again: the stream started over
    // A small share still allows one key frame (the bucket holds at least 1).
    KeyFrameBudget small(0.01, 10);
    EXPECT_DOUBLE_EQ(small.available("c", 0), 1.0);
    // No budget.
    KeyFrameBudget none(0, 100);
    EXPECT_LT(none.available("a", 0), 0);
}

TEST(KeyFrameBudget, ForgetsTheLeastRecentlyUsedStream) {
    KeyFrameBudget budget(0.1, 100);
    budget.spend("first", 0);
    EXPECT_DOUBLE_EQ(budget.available("first", 5), 0.5);
    for (std::size_t i = 0; i < KeyFrameBudget::kStreams; ++i)
        budget.available("s" + std::to_string(i), 0);
    // "first" was the least recently used of kStreams + 1: forgotten, it starts over.
    EXPECT_DOUBLE_EQ(budget.available("first", 6), 1.0);
}

} // namespace
