// The warp of a key frame's feature map by dense flow (plugins/fusion-feature/feature_warp):
// a known motion moves the map by that many cells, cells not sent become 0 with a 0 in the
// mask channel, no flow moves nothing, and the flow between two real frames of a shifted
// scene finds the shift.
#include "plugins/fusion-feature/feature_warp.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace {

using fusion_feature::flow_back;
using fusion_feature::flow_image;
using fusion_feature::kFlowSize;
using fusion_feature::warp_features;

constexpr int kC = 3, kH = 44, kW = 80;

std::vector<float> ramp_map() {
    std::vector<float> m(kC * kH * kW);
    for (int c = 0; c < kC; ++c)
        for (int y = 0; y < kH; ++y)
            for (int x = 0; x < kW; ++x)
                m[(c * kH + y) * kW + x] = static_cast<float>(c * 1000 + y * 10 + x) * 0.01f;
    return m;
}

float at(const std::vector<float> &m, int c, int y, int x) {
    return m[(c * kH + y) * kW + x];
}

TEST(FeatureWarp, NoFlowMovesNothingAndAddsAFullMask) {
    const std::vector<float> key = ramp_map();
    std::vector<float> out;
    warp_features(key.data(), kC, kH, kW, cv::Mat(), out);
    ASSERT_EQ(out.size(), static_cast<std::size_t>((kC + 1) * kH * kW));
    for (int c = 0; c < kC; ++c)
        EXPECT_FLOAT_EQ(at(out, c, 7, 9), at(key, c, 7, 9));
    EXPECT_FLOAT_EQ(at(out, kC, 7, 9), 1.0f);
}

TEST(FeatureWarp, AConstantFlowShiftsTheMapByThatManyCells) {
    const std::vector<float> key = ramp_map();
    // Each pixel of the current frame was 4 flow pixels to the right and 2 down in the key
    // frame: 2 cells right and 1 cell down on the 80 x 44 map (160 x 88 flow).
    cv::Mat flow(kFlowSize, CV_32FC2, cv::Scalar(4.0f, 2.0f));
    std::vector<float> out;
    warp_features(key.data(), kC, kH, kW, flow, out);
    for (int c = 0; c < kC; ++c)
        for (int y = 5; y < 30; y += 6)
            for (int x = 5; x < 60; x += 9)
                EXPECT_NEAR(at(out, c, y, x), at(key, c, y + 1, x + 2), 1e-4) << c << y << x;
}

TEST(FeatureWarp, CellsNotSentAreZeroWithAZeroMask) {
    std::vector<float> key = ramp_map();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int c = 0; c < kC; ++c)
        for (int y = 0; y < kH; ++y)
            for (int x = 40; x < kW; ++x)
                key[(c * kH + y) * kW + x] = nan;
    std::vector<float> out;
    warp_features(key.data(), kC, kH, kW, cv::Mat(), out);
    for (float v : out)
        ASSERT_TRUE(std::isfinite(v));
    EXPECT_FLOAT_EQ(at(out, 1, 10, 50), 0.0f);
    EXPECT_FLOAT_EQ(at(out, kC, 10, 50), 0.0f);
    EXPECT_FLOAT_EQ(at(out, kC, 10, 20), 1.0f);
    EXPECT_FLOAT_EQ(at(out, 1, 10, 20), at(key, 1, 10, 20));
}

TEST(FeatureWarp, TheFlowOfAShiftedSceneFindsTheShift) {
    // A textured scene; the key frame shows it 16 px further left than the current frame
    // does, so what is at x now was at x - 16 in the key frame: -4 pixels of the 160-wide
    // flow image.
    cv::Mat scene(360, 700, CV_8UC3);
    cv::RNG rng(5);
    rng.fill(scene, cv::RNG::UNIFORM, 0, 255);
    cv::GaussianBlur(scene, scene, cv::Size(9, 9), 3);
    const cv::Mat key = scene(cv::Rect(16, 0, 640, 360)).clone();
    const cv::Mat current = scene(cv::Rect(0, 0, 640, 360)).clone();
    const cv::Mat flow = flow_back(flow_image(current), flow_image(key));
    ASSERT_EQ(flow.size(), kFlowSize);
    // In the middle (away from the border the shift uncovers): about -4 flow pixels in x.
    const cv::Scalar mean = cv::mean(flow(cv::Rect(40, 20, 80, 48)));
    EXPECT_NEAR(mean[0], -4.0, 0.5);
    EXPECT_NEAR(mean[1], 0.0, 0.5);
}

// A textured scene, as TheFlowOfAShiftedSceneFindsTheShift uses.
cv::Mat textured_scene() {
    cv::Mat scene(360, 700, CV_8UC3);
    cv::RNG rng(5);
    rng.fill(scene, cv::RNG::UNIFORM, 0, 255);
    cv::GaussianBlur(scene, scene, cv::Size(9, 9), 3);
    return scene;
}

TEST(FeatureWarp, TheWarpErrorIsSmallWhenTheFlowFollowsTheMotion) {
    using fusion_feature::warp_error;
    const cv::Mat scene = textured_scene();
    const cv::Mat key = flow_image(scene(cv::Rect(16, 0, 640, 360)));
    const cv::Mat current = flow_image(scene(cv::Rect(0, 0, 640, 360)));
    // The same image: nothing to carry.
    EXPECT_NEAR(warp_error(key, key, cv::Mat()), 0.0, 1e-9);
    // The shift, followed by the flow, leaves little; not followed, much more.
    const double followed = warp_error(current, key, flow_back(current, key));
    const double not_followed = warp_error(current, key, cv::Mat());
    EXPECT_LT(followed, 0.02);
    EXPECT_GT(not_followed, 3 * followed);
    // A light change alone is not motion: brighter by 30 levels, the same scene.
    cv::Mat brighter;
    key.convertTo(brighter, -1, 1.0, 30);
    EXPECT_LT(warp_error(brighter, key, cv::Mat()), 0.01);
    // An object that was not in the key frame raises it.
    cv::Mat with_object = current.clone();
    cv::rectangle(with_object, cv::Rect(60, 30, 30, 30), cv::Scalar(255), cv::FILLED);
    EXPECT_GT(warp_error(with_object, key, flow_back(with_object, key)), followed + 0.01);
}

TEST(FeatureWarp, TheWorstBlocksCountALocalChangeFully) {
    using fusion_feature::warp_error;
    using fusion_feature::WarpMeasure;
    const cv::Mat scene = textured_scene();
    const cv::Mat key = flow_image(scene(cv::Rect(0, 0, 640, 360)));
    // A small object (16 x 16 flow pixels, 1.8% of the frame) appears; nothing else moves.
    cv::Mat with_object = key.clone();
    cv::rectangle(with_object, cv::Rect(64, 40, 16, 16), cv::Scalar(255), cv::FILLED);
    const double mean = warp_error(with_object, key, cv::Mat(), WarpMeasure::mean);
    const double worst = warp_error(with_object, key, cv::Mat(), WarpMeasure::worst_blocks);
    EXPECT_LT(mean, 0.02);      // diluted by the 98% that did not change
    EXPECT_GT(worst, 5 * mean); // a tenth of the blocks holds it
    EXPECT_LE(worst, 1.0);
    EXPECT_NEAR(warp_error(key, key, cv::Mat(), WarpMeasure::worst_blocks), 0.0, 1e-9);
}

} // namespace
