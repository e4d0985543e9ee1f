// The end's per-stream state (agent/pipeline/video_stream.hpp): frames reach fusion in
// frame order whatever order their work finishes in, an upstream answer is seen only by
// frames fused after it arrived, and the scheduler's stream inputs follow the key frames.
#include "agent/pipeline/video_stream.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tierd {
namespace {

TaskPtr frame_task(std::int64_t index, const std::string &stream = "video:test.avi") {
    auto t = std::make_unique<Task>();
    t->stream = stream;
    t->task.struct_size = sizeof t->task;
    t->task.frame_index = index;
    t->task.stream = t->stream.c_str();
    return t;
}

Task::Outcome boxes(std::vector<tierd_detection> d) {
    Task::Outcome o;
    o.prepare(16);
    for (std::size_t i = 0; i < d.size(); ++i)
        o.result.detections[i] = d[i];
    o.result.detection_count = static_cast<std::uint32_t>(d.size());
    o.result.image_width = 640;
    o.result.image_height = 360;
    o.ok = true;
    return o;
}

TEST(VideoStream, FramesReachFusionInFrameOrderWhateverOrderTheyFinishIn) {
    VideoStream s("video:test.avi");
    for (int i = 0; i < 5; ++i)
        s.started(i, 1000 + i);
    std::vector<std::int64_t> fused;
    auto drain = [&] {
        while (s.has_next())
            fused.push_back(s.take_next()->task.frame_index);
    };
    for (int i : {2, 1, 4}) {
        s.ready(frame_task(i));
        drain();
    }
    EXPECT_TRUE(fused.empty()) << "frame 0 has not finished: nothing may go ahead of it";
    s.ready(frame_task(0));
    drain();
    EXPECT_EQ(fused, (std::vector<std::int64_t>{0, 1, 2}));
    s.ready(frame_task(3));
    drain();
    EXPECT_EQ(fused, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
    EXPECT_TRUE(s.idle());
}

TEST(VideoStream, AFrameSeesOnlyAnAnswerThatHasArrived) {
    VideoStream s("v");
    Task::Outcome seen;
    tierd_upstream_result view{};
    EXPECT_FALSE(s.upstream_for(5'000'000'000, 100, seen, view)) << "nothing has arrived yet";
    // Key frame 10, captured at t = 1.0 s, answered at t = 1.3 s.
    s.upstream_arrived(boxes({{100, 50, 40, 30, 2, 0.9f, -1, TIERD_DETECTION_UPSTREAM}}), 10,
                       TIERD_TIER_EDGE, 1'000'000'000, 1'300'000'000, true);
    ASSERT_TRUE(s.upstream_for(1'400'000'000, 30, seen, view));
    EXPECT_EQ(view.frame_index, 10);
    EXPECT_EQ(view.tier, TIERD_TIER_EDGE);
    EXPECT_NEAR(view.age_ms, 400.0, 1e-6);
    EXPECT_NEAR(view.arrived_ago_ms, 100.0, 1e-6);
    EXPECT_EQ(view.sequence, 1u);
    ASSERT_EQ(view.result->detection_count, 1u);
    EXPECT_FLOAT_EQ(view.result->detections[0].x, 100.0f);
    // The snapshot is a copy: a newer answer does not change what a frame was handed.
    s.upstream_arrived(boxes({{200, 50, 40, 30, 2, 0.9f, -1, 0}}), 20, TIERD_TIER_EDGE,
                       1'400'000'000, 1'700'000'000, true);
    EXPECT_FLOAT_EQ(view.result->detections[0].x, 100.0f);
    tierd_upstream_result newer{};
    Task::Outcome seen2;
    ASSERT_TRUE(s.upstream_for(1'800'000'000, 30, seen2, newer));
    EXPECT_EQ(newer.frame_index, 20);
    EXPECT_EQ(newer.sequence, 2u);
}

TEST(VideoStream, AnAnswerAboutAnOlderFrameDoesNotReplaceANewerOne) {
    VideoStream s("v");
    s.upstream_arrived(boxes({}), 20, TIERD_TIER_EDGE, 2'000, 3'000, true);
    s.upstream_arrived(boxes({}), 10, TIERD_TIER_CLOUD, 1'000, 4'000, true);
    Task::Outcome seen;
    tierd_upstream_result view{};
    ASSERT_TRUE(s.upstream_for(5'000, 25, seen, view));
    EXPECT_EQ(view.frame_index, 20);
    EXPECT_EQ(s.stats(5'000)["key_frames"]["answered"], 2) << "both answers count as answered";
    EXPECT_EQ(s.stats(5'000)["key_frames"]["in_flight"], 0);
}

// An end that lags (its frames fused long after their key frames were sent) may hold an
// answer about frame 50 when it fuses frame 34: frame 34 gets the answer about frame 30,
// never one from its future (found under ASan on a loaded machine).
TEST(VideoStream, AFrameFusedLateIsNeverHandedAnAnswerAboutALaterFrame) {
    VideoStream s("v");
    s.upstream_arrived(boxes({{1, 1, 5, 5, 0, 0.9f, -1, 0}}), 30, TIERD_TIER_EDGE, 1'000, 2'000,
                       true);
    s.upstream_arrived(boxes({{9, 9, 5, 5, 0, 0.9f, -1, 0}}), 50, TIERD_TIER_EDGE, 3'000, 4'000,
                       true);
    Task::Outcome seen;
    tierd_upstream_result view{};
    ASSERT_TRUE(s.upstream_for(5'000, 34, seen, view));
    EXPECT_EQ(view.frame_index, 30);
    EXPECT_FLOAT_EQ(view.result->detections[0].x, 1.0f);
    ASSERT_TRUE(s.upstream_for(5'000, 50, seen, view));
    EXPECT_EQ(view.frame_index, 50);
    EXPECT_FALSE(s.upstream_for(5'000, 29, seen, view)) << "no answer about frame 29 or before";
}

TEST(VideoStream, TheSchedulerSeesKeyFramesInFlightAndTheChangeSinceTheLastOne) {
    VideoStream s("v");
    for (int i = 0; i < 12; ++i)
        s.started(i, 1'000'000'000ull + i * 40'000'000ull); // 25 fps
    auto key = frame_task(0);
    key->thumbnail.assign(32 * 18, 100);
    key->local_first = true;
    key->local = boxes({{0, 0, 10, 10, 1, 0.8f, -1, 0}, {20, 20, 10, 10, 1, 0.6f, -1, 0}});
    s.key_frame_sent(*key);
    auto later = frame_task(11);
    later->thumbnail.assign(32 * 18, 151); // a brighter scene: (151 - 100) / 255 = 0.2
    later->local_first = true;
    later->local = boxes({{0, 0, 10, 10, 1, 0.4f, -1, 0},
                          {20, 20, 10, 10, 1, 0.2f, -1, 0},
                          {40, 40, 10, 10, 1, 0.3f, -1, 0}});
    const tierd_stream_state st = s.state(*later, 1'500'000'000);
    EXPECT_EQ(st.frame_index, 11);
    EXPECT_EQ(st.last_key_frame, 0);
    EXPECT_EQ(st.key_frames_in_flight, 1u);
    EXPECT_NEAR(st.frame_interval_ms, 40.0, 1e-6);
    EXPECT_LT(st.upstream_age_ms, 0.0) << "no answer yet";
    EXPECT_EQ(st.local_detections, 3);
    EXPECT_NEAR(st.local_mean_score, 0.3, 1e-6);
    EXPECT_EQ(st.local_detections_change, 1);
    EXPECT_NEAR(st.scene_change, 0.2, 1e-6);
    s.key_frame_lost();
    EXPECT_EQ(s.state(*later, 1'500'000'000).key_frames_in_flight, 0u);
}

TEST(VideoStream, TheSchedulerSeesTheNewestWarpErrorTheFusionReported) {
    VideoStream s("video:test.avi");
    s.started(0, 1000);
    TaskPtr t = frame_task(5);
    tierd_stream_state st = s.state(*t, 2000);
    // ABI 1.6: none reported yet.
    EXPECT_EQ(st.warp_error, -1);
    EXPECT_EQ(st.warp_error_frame, -1);
    EXPECT_EQ(st.warp_error_key_frame, -1);
    EXPECT_FALSE(s.stats(2000).contains("warp_error"));
    s.fused(3, 0, 0.02);
    s.fused(4, 0, 0.035);
    st = s.state(*t, 2000);
    EXPECT_DOUBLE_EQ(st.warp_error, 0.035);
    EXPECT_EQ(st.warp_error_frame, 4);
    EXPECT_EQ(st.warp_error_key_frame, 0);
    EXPECT_DOUBLE_EQ(s.stats(2000)["warp_error"]["value"].get<double>(), 0.035);
}

TEST(VideoStream, ThumbnailsMeasureChangeAndIgnoreTinyImages) {
    std::vector<std::uint8_t> pixels(640 * 360 * 3, 0);
    tierd_image img{sizeof(tierd_image), TIERD_PIXEL_BGR8, 640, 360, 640 * 3, pixels.data()};
    const auto dark = frame_thumbnail(img);
    ASSERT_EQ(dark.size(), 32u * 18u);
    std::fill(pixels.begin(), pixels.end(), 255);
    const auto bright = frame_thumbnail(img);
    EXPECT_NEAR(thumbnail_difference(dark, bright), 1.0, 1e-9);
    EXPECT_NEAR(thumbnail_difference(bright, bright), 0.0, 1e-9);
    tierd_image tiny{sizeof(tierd_image), TIERD_PIXEL_GRAY8, 28, 28, 28, pixels.data()};
    EXPECT_TRUE(frame_thumbnail(tiny).empty());
    EXPECT_LT(thumbnail_difference({}, bright), 0.0);
}

} // namespace
} // namespace tierd
