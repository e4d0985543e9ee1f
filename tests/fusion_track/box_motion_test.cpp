// move_box() on hand-made point pairs: the median of the box's own points wins over a
// minority of wrong ones, the global shift moves a box without points, and the seeds land
// inside the boxes.
#include "plugins/fusion-track/box_motion.hpp"
#include "plugins/fusion-track/frame_flow.hpp"

#include <gtest/gtest.h>

namespace {

using fusion_track::Box;
using fusion_track::MotionStep;

// Pairs on a 5 x 5 grid over `box`, moved by (dx, dy).
void add_pairs(MotionStep &step, const Box &box, float dx, float dy) {
    for (int j = 0; j < 5; ++j)
        for (int i = 0; i < 5; ++i) {
            const float x = box.x + (static_cast<float>(i) + 0.5f) * box.width / 5.0f;
            const float y = box.y + (static_cast<float>(j) + 0.5f) * box.height / 5.0f;
            step.from.push_back({x, y});
            step.to.push_back({x + dx, y + dy});
        }
}

TEST(BoxMotion, MovesByTheMedianOfTheBoxsOwnPoints) {
    MotionStep step;
    const Box box{100, 100, 40, 40};
    add_pairs(step, box, 3.0f, -2.0f);
    // A few wrong pairs inside the box (background showing through) do not move it.
    for (int i = 0; i < 4; ++i) {
        step.from.push_back({120.0f + static_cast<float>(i), 120.0f});
        step.to.push_back({120.0f + static_cast<float>(i) - 30.0f, 150.0f});
    }
    const auto moved = fusion_track::move_box(box, step, {});
    EXPECT_NEAR(moved.box.x, 103.0f, 1e-4);
    EXPECT_NEAR(moved.box.y, 98.0f, 1e-4);
    EXPECT_FLOAT_EQ(moved.box.width, 40.0f);
    EXPECT_GE(moved.support, fusion_track::kMinMovePoints);
}

TEST(BoxMotion, ABoxWithoutPointsMovesWithTheCamera) {
    MotionStep step;
    add_pairs(step, Box{0, 0, 50, 50}, 1.0f, 1.0f);
    step.global_shift = {-4.0f, 2.5f};
    const auto moved = fusion_track::move_box(Box{300, 200, 20, 20}, step, {});
    EXPECT_EQ(moved.support, 0);
    EXPECT_FLOAT_EQ(moved.box.x, 296.0f);
    EXPECT_FLOAT_EQ(moved.box.y, 202.5f);
}

TEST(BoxMotion, ScaleFollowsTheSpreadOfThePointsWithinItsLimit) {
    MotionStep step;
    const Box box{100, 100, 50, 50};
    for (int j = 0; j < 5; ++j)
        for (int i = 0; i < 5; ++i) {
            const float x = 105.0f + static_cast<float>(i) * 10.0f;
            const float y = 105.0f + static_cast<float>(j) * 10.0f;
            step.from.push_back({x, y});
            // 2% larger around the box's centre (125, 125).
            step.to.push_back({125.0f + (x - 125.0f) * 1.02f, 125.0f + (y - 125.0f) * 1.02f});
        }
    fusion_track::BoxMotionOptions options;
    options.estimate_scale = true;
    const auto grown = fusion_track::move_box(box, step, options);
    EXPECT_NEAR(grown.box.width, 51.0f, 0.05f);
    EXPECT_NEAR(grown.box.x + grown.box.width / 2, 125.0f, 1e-3);
    options.max_scale_change = 0.01f;
    EXPECT_NEAR(fusion_track::move_box(box, step, options).box.width, 50.5f, 1e-3);
    options.estimate_scale = false;
    EXPECT_FLOAT_EQ(fusion_track::move_box(box, step, options).box.width, 50.0f);
}

TEST(BoxMotion, AFollowedBoxWithoutPointsCoastsOnItsOwnVelocity) {
    fusion_track::Point velocity{};
    MotionStep seen;
    seen.from_frame = 0;
    seen.to_frame = 1;
    add_pairs(seen, Box{100, 100, 40, 40}, 4.0f, 0.0f);
    Box box = fusion_track::follow_box(Box{100, 100, 40, 40}, seen, {}, velocity).box;
    EXPECT_FLOAT_EQ(box.x, 104.0f);
    EXPECT_FLOAT_EQ(velocity.x, 2.0f); // smoothed from 0 towards 4 px per frame
    // Two frames later its points are gone (it is leaving the image): it keeps going,
    // not with the camera (global shift 0).
    MotionStep lost;
    lost.from_frame = 1;
    lost.to_frame = 3;
    const auto moved = fusion_track::follow_box(box, lost, {}, velocity);
    EXPECT_EQ(moved.support, 0);
    EXPECT_FLOAT_EQ(moved.box.x, 108.0f);
    EXPECT_FLOAT_EQ(velocity.x, 2.0f); // unchanged while coasting
}

TEST(BoxMotion, IouOfBoxes) {
    EXPECT_FLOAT_EQ(fusion_track::box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0f);
    EXPECT_FLOAT_EQ(fusion_track::box_iou({0, 0, 10, 10}, {5, 0, 10, 10}), 50.0f / 150.0f);
    EXPECT_FLOAT_EQ(fusion_track::box_iou({0, 0, 10, 10}, {10, 0, 10, 10}), 0.0f);
    const Box clipped = fusion_track::clip_box({-5, 350, 20, 20}, 640, 360);
    EXPECT_FLOAT_EQ(clipped.x, 0.0f);
    EXPECT_FLOAT_EQ(clipped.width, 15.0f);
    EXPECT_FLOAT_EQ(clipped.height, 10.0f);
}

TEST(FrameFlowSeeds, BoxesGetTheirPointsInTheirCentreWhileTheyFit) {
    const Box boxes[] = {{100, 100, 40, 40}, {400, 200, 10, 10}};
    // At scale 0.5 the first box is 20 px; its central 70% (14 px) gets 4 x 4 points at
    // least 3 px apart; the 5 px box still gets one.
    const auto own = fusion_track::seed_points(cv::Size(320, 180), 0.5, boxes, 100);
    ASSERT_EQ(own.size(), 17u);
    for (std::size_t i = 0; i < 16; ++i) {
        EXPECT_GE(own[i].x, 53.0f);
        EXPECT_LE(own[i].x, 67.0f);
        EXPECT_GE(own[i].y, 53.0f);
        EXPECT_LE(own[i].y, 67.0f);
    }
    EXPECT_NEAR(own[16].x, 202.5f, 1e-4);
    // Boxes that do not fit in the budget get none.
    EXPECT_EQ(fusion_track::seed_points(cv::Size(320, 180), 0.5, boxes, 16).size(), 16u);
}

} // namespace
