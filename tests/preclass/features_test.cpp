// The 7 image-complexity features on synthetic images with closed-form values.
#include "features.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <stdexcept>

namespace {

using tierd::preclass::compute_features;
using tierd::preclass::compute_features_rgb;
using tierd::preclass::Features;
using tierd::preclass::kFeatureCount;
using tierd::preclass::kFeatureNames;

enum : std::size_t {
    kKeypoints = 0,
    kAspect,
    kAreaByPerim,
    kIntensity1,
    kEdgeLength1,
    kContrast,
    kBrightness
};

// A white w x h rectangle at (x, y) on a black W x H image.
cv::Mat rectangle(int W, int H, int x, int y, int w, int h) {
    cv::Mat m(H, W, CV_8UC1, cv::Scalar(0));
    m(cv::Rect(x, y, w, h)).setTo(255);
    return m;
}

TEST(PreclassFeatures, NamesAndOrder) {
    ASSERT_EQ(kFeatureCount, 7u);
    EXPECT_STREQ(kFeatureNames[kKeypoints], "n_keypoints");
    EXPECT_STREQ(kFeatureNames[kAspect], "aspect_ratio");
    EXPECT_STREQ(kFeatureNames[kAreaByPerim], "area_by_perim");
    EXPECT_STREQ(kFeatureNames[kIntensity1], "intensity1");
    EXPECT_STREQ(kFeatureNames[kEdgeLength1], "edge_length1");
    EXPECT_STREQ(kFeatureNames[kContrast], "contrast");
    EXPECT_STREQ(kFeatureNames[kBrightness], "avg_perceived_brightness");
}

TEST(PreclassFeatures, WhiteRectangleOnBlackHasClosedFormValues) {
    const int W = 28, H = 28, w = 12, h = 6;
    const Features f = compute_features(rectangle(W, H, 8, 10, w, h));
    const double p = static_cast<double>(w * h) / (W * H); // share of white pixels
    // Bounding box w x h; the contour runs through the border pixels' centres.
    EXPECT_FLOAT_EQ(f[kAspect], static_cast<float>(w) / h);
    EXPECT_NEAR(f[kAreaByPerim], (w - 1.0) * (h - 1.0) / (2.0 * ((w - 1) + (h - 1))), 1e-5);
    EXPECT_NEAR(f[kBrightness], 255.0 * p, 1e-3);
    EXPECT_NEAR(f[kContrast], 255.0 * std::sqrt(p * (1.0 - p)), 1e-3);
    EXPECT_NEAR(f[kIntensity1], 1.0 - p, 1e-6); // black pixels fall in the first bin
    EXPECT_EQ(f[kKeypoints], 4.0f);             // the four corners
    // One edge loop around the rectangle, longer than 2 * (W + H) / 7 = 16 px.
    EXPECT_EQ(f[kEdgeLength1], 0.0f);
}

TEST(PreclassFeatures, TallRectangleAndLargestObjectWins) {
    cv::Mat m = rectangle(40, 40, 5, 2, 4, 30); // 4 x 30: the main object
    m(cv::Rect(20, 20, 5, 5)).setTo(255);       // a smaller one
    const Features f = compute_features(m);
    EXPECT_FLOAT_EQ(f[kAspect], 4.0f / 30.0f);
    EXPECT_NEAR(f[kAreaByPerim], 3.0 * 29.0 / (2.0 * (3 + 29)), 1e-5);
    EXPECT_EQ(f[kKeypoints], 8.0f);
}

TEST(PreclassFeatures, ShortEdgesFillTheFirstEdgeLengthBin) {
    // Two 3 x 3 specks on a 28 x 28 image: Canny draws a ring around each, whose two
    // contours (outer and inner) are about 9-10 px long, under 2 * (28 + 28) / 7 = 16 px.
    cv::Mat m(28, 28, CV_8UC1, cv::Scalar(0));
    m(cv::Rect(4, 4, 3, 3)).setTo(255);
    m(cv::Rect(18, 18, 3, 3)).setTo(255);
    EXPECT_EQ(compute_features(m)[kEdgeLength1], 1.0f);
    // One speck and a 12 x 6 rectangle (two contours of about 33 px): half are short.
    cv::Mat mixed = rectangle(28, 28, 8, 14, 12, 6);
    mixed(cv::Rect(2, 2, 3, 3)).setTo(255);
    EXPECT_EQ(compute_features(mixed)[kEdgeLength1], 0.5f);
}

TEST(PreclassFeatures, FlatImageHasNoStructure) {
    const Features f = compute_features(cv::Mat(28, 28, CV_8UC1, cv::Scalar(100)));
    EXPECT_EQ(f[kKeypoints], 0.0f);
    EXPECT_EQ(f[kEdgeLength1], 0.0f);
    EXPECT_NEAR(f[kContrast], 0.0, 1e-4); // meanStdDev rounding
    EXPECT_NEAR(f[kBrightness], 100.0, 1e-4);
    EXPECT_EQ(f[kIntensity1], 0.0f); // 100 > 256 / 7
    EXPECT_EQ(compute_features(cv::Mat(28, 28, CV_8UC1, cv::Scalar(0)))[kIntensity1], 1.0f);
}

TEST(PreclassFeatures, GrayAndColourVersionsAgree) {
    const cv::Mat gray = rectangle(28, 28, 3, 5, 9, 17);
    cv::Mat bgr, bgra;
    cv::cvtColor(gray, bgr, cv::COLOR_GRAY2BGR);
    cv::cvtColor(gray, bgra, cv::COLOR_GRAY2BGRA);
    const Features g = compute_features(gray);
    const Features c = compute_features(bgr);
    const Features a = compute_features(bgra);
    const Features r = compute_features_rgb(bgr);
    for (std::size_t i = 0; i < kFeatureCount; ++i) {
        EXPECT_NEAR(g[i], c[i], 1e-3) << kFeatureNames[i];
        EXPECT_NEAR(g[i], a[i], 1e-3) << kFeatureNames[i];
        EXPECT_NEAR(g[i], r[i], 1e-3) << kFeatureNames[i];
    }
}

TEST(PreclassFeatures, PerceivedBrightnessWeighsGreenMost) {
    // sqrt(0.241 R^2 + 0.691 G^2 + 0.068 B^2) on pure colours (BGR order).
    auto brightness = [](cv::Scalar bgr) {
        return compute_features(cv::Mat(8, 8, CV_8UC3, bgr))[kBrightness];
    };
    EXPECT_NEAR(brightness({255, 0, 0}), 255.0 * std::sqrt(0.068), 1e-3); // blue
    EXPECT_NEAR(brightness({0, 255, 0}), 255.0 * std::sqrt(0.691), 1e-3); // green
    EXPECT_NEAR(brightness({0, 0, 255}), 255.0 * std::sqrt(0.241), 1e-3); // red
    const cv::Mat red(8, 8, CV_8UC3, cv::Scalar(255, 0, 0));              // as RGB data: red
    EXPECT_NEAR(compute_features_rgb(red)[kBrightness], 255.0 * std::sqrt(0.241), 1e-3);
}

TEST(PreclassFeatures, AnySizeWorks) {
    EXPECT_NO_THROW(compute_features(cv::Mat(1, 1, CV_8UC1, cv::Scalar(7))));
    const Features f = compute_features(rectangle(300, 200, 50, 50, 100, 50));
    EXPECT_FLOAT_EQ(f[kAspect], 2.0f);
}

TEST(PreclassFeatures, BadInputThrows) {
    EXPECT_THROW(compute_features(cv::Mat()), std::invalid_argument);
    EXPECT_THROW(compute_features(cv::Mat(4, 4, CV_32FC1, cv::Scalar(0))), std::invalid_argument);
    EXPECT_THROW(compute_features_rgb(cv::Mat(4, 4, CV_8UC1, cv::Scalar(0))),
                 std::invalid_argument);
}

} // namespace
