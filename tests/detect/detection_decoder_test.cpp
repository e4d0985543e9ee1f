// The inference-opencv plugin's detection decoder (plugins/inference-opencv/
// detection_decoder.hpp) on hand-made output tensors. Geometry of every case unless it
// says otherwise: input 64x32, output 8 columns x 4 rows (stride 8), frame 128x64 (so
// input pixels scale by 2 to frame pixels), 3 classes.
#include "plugins/inference-opencv/detection_decoder.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace {

using inference_opencv::decode_detections;
using inference_opencv::DecodeOptions;
using inference_opencv::DetectionBox;

constexpr int kClasses = 3, kRows = 4, kCols = 8;
const cv::Size kInput(64, 32), kFrame(128, 64);

struct Outputs {
    cv::Mat heatmap, box;
    Outputs(int classes = kClasses, int rows = kRows, int cols = kCols) {
        const int hs[] = {1, classes, rows, cols};
        const int bs[] = {1, 4, rows, cols};
        heatmap = cv::Mat(4, hs, CV_32F, cv::Scalar(0));
        box = cv::Mat(4, bs, CV_32F, cv::Scalar(0)); // exp(0) = 1 stride each way
    }
    float &score(int c, int i, int j) { return heatmap.ptr<float>()[(c * kRows + i) * kCols + j]; }
    // Distances to the left, top, right and bottom edges in strides (stored as logs).
    void edges(int i, int j, float l, float t, float r, float b) {
        float *p = box.ptr<float>();
        const int at = i * kCols + j, plane = kRows * kCols;
        p[0 * plane + at] = std::log(l);
        p[1 * plane + at] = std::log(t);
        p[2 * plane + at] = std::log(r);
        p[3 * plane + at] = std::log(b);
    }
};

std::vector<DetectionBox> decode(const Outputs &o, DecodeOptions options = {}) {
    return decode_detections(o.heatmap, o.box, kInput, kFrame, options);
}

TEST(DetectionDecoder, OnePeakBecomesItsBoxInFramePixels) {
    Outputs o;
    o.score(2, 1, 3) = 0.9f;
    o.edges(1, 3, 1.0f, 0.5f, 2.0f, 1.0f);
    // Cell centre (3.5 * 8, 1.5 * 8) = (28, 12) input px; edges 8, 4, 16, 8 px away:
    // x1 20, y1 8, x2 44, y2 20 -> frame (x2): x 40, y 16, width 48, height 24.
    const auto d = decode(o);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_FLOAT_EQ(d[0].x, 40.0f);
    EXPECT_FLOAT_EQ(d[0].y, 16.0f);
    EXPECT_FLOAT_EQ(d[0].width, 48.0f);
    EXPECT_FLOAT_EQ(d[0].height, 24.0f);
    EXPECT_EQ(d[0].class_id, 2);
    EXPECT_FLOAT_EQ(d[0].score, 0.9f);
}

TEST(DetectionDecoder, ScoresBelowTheThresholdAreDropped) {
    Outputs o;
    o.score(0, 0, 0) = 0.29f;
    o.score(1, 3, 7) = 0.30f;
    DecodeOptions opt;
    opt.score_threshold = 0.3f;
    const auto d = decode(o, opt);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].class_id, 1);
}

TEST(DetectionDecoder, OnlyLocalMaximaOfTheSameClassAreCandidates) {
    Outputs o;
    o.score(0, 1, 1) = 0.9f;
    o.score(0, 1, 2) = 0.8f; // neighbour of a higher cell: not a peak
    o.score(0, 2, 2) = 0.7f; // diagonal neighbour: not a peak either
    o.score(1, 1, 2) = 0.6f; // another class: its own peak
    DecodeOptions opt;
    opt.score_threshold = 0.5f;
    const auto d = decode(o, opt);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].class_id, 0);
    EXPECT_FLOAT_EQ(d[0].score, 0.9f);
    EXPECT_EQ(d[1].class_id, 1);
    EXPECT_FLOAT_EQ(d[1].score, 0.6f);
}

TEST(DetectionDecoder, NmsIsPerClass) {
    // Two peaks two cells apart whose boxes overlap almost entirely: same class -> the
    // better one stays; the same boxes in different classes both stay.
    Outputs same;
    same.score(0, 1, 2) = 0.9f;
    same.edges(1, 2, 3.0f, 2.0f, 3.0f, 2.0f); // x 20 +- 24 -> [0, 44] clipped
    same.score(0, 1, 4) = 0.8f;
    same.edges(1, 4, 5.0f, 2.0f, 1.0f, 2.0f); // x 36 - 40 .. 36 + 8 -> [0, 44] clipped
    DecodeOptions opt;
    opt.score_threshold = 0.5f;
    opt.nms_iou = 0.5f;
    auto d = decode(same, opt);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_FLOAT_EQ(d[0].score, 0.9f);

    Outputs other = same;
    other.heatmap = same.heatmap.clone();
    other.score(0, 1, 4) = 0.0f;
    other.score(1, 1, 4) = 0.8f;
    d = decode(other, opt);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].class_id, 0);
    EXPECT_EQ(d[1].class_id, 1);
}

TEST(DetectionDecoder, TopKKeepsTheBestInScoreOrder) {
    Outputs o;
    o.score(0, 0, 0) = 0.5f;
    o.score(1, 0, 4) = 0.7f;
    o.score(2, 3, 0) = 0.9f;
    o.score(0, 3, 6) = 0.6f;
    DecodeOptions opt;
    opt.score_threshold = 0.1f;
    opt.top_k = 3;
    const auto d = decode(o, opt);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_FLOAT_EQ(d[0].score, 0.9f);
    EXPECT_FLOAT_EQ(d[1].score, 0.7f);
    EXPECT_FLOAT_EQ(d[2].score, 0.6f);
}

TEST(DetectionDecoder, BoxesAreClippedToTheFrame) {
    Outputs o;
    o.score(0, 0, 7) = 0.9f;
    o.edges(0, 7, 1.0f, 2.0f, 3.0f, 1.0f); // centre (60, 4): x 52..84, y -12..12 input px
    const auto d = decode(o);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_FLOAT_EQ(d[0].x, 104.0f); // 52 * 2
    EXPECT_FLOAT_EQ(d[0].y, 0.0f);
    EXPECT_FLOAT_EQ(d[0].width, 24.0f); // 128 - 104
    EXPECT_FLOAT_EQ(d[0].height, 24.0f);
}

TEST(DetectionDecoder, HugeAndNanOutputsStayFinite) {
    Outputs o;
    o.score(0, 1, 1) = std::numeric_limits<float>::quiet_NaN();
    o.score(1, 2, 5) = 0.9f;
    float *p = o.box.ptr<float>();
    for (int k = 0; k < 4; ++k)
        p[k * kRows * kCols + 2 * kCols + 5] = 1e30f; // exp would overflow: clamped
    const auto d = decode(o);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].class_id, 1);
    EXPECT_FLOAT_EQ(d[0].x, 0.0f);
    EXPECT_FLOAT_EQ(d[0].width, 128.0f);
    EXPECT_FLOAT_EQ(d[0].height, 64.0f);
}

TEST(DetectionDecoder, MismatchedShapesAreRejected) {
    Outputs o;
    const int wrong_channels[] = {1, 3, kRows, kCols};
    EXPECT_THROW(
        decode_detections(o.heatmap, cv::Mat(4, wrong_channels, CV_32F), kInput, kFrame, {}),
        std::invalid_argument);
    const int wrong_rows[] = {1, 4, kRows + 1, kCols};
    EXPECT_THROW(decode_detections(o.heatmap, cv::Mat(4, wrong_rows, CV_32F), kInput, kFrame, {}),
                 std::invalid_argument);
    // 60 is not a whole number of 8-column strides.
    EXPECT_THROW(decode_detections(o.heatmap, o.box, cv::Size(60, 32), kFrame, {}),
                 std::invalid_argument);
    EXPECT_THROW(decode_detections(o.heatmap, o.box, kInput, cv::Size(0, 64), {}),
                 std::invalid_argument);
    EXPECT_THROW(decode_detections(cv::Mat(4, 8, CV_32F), o.box, kInput, kFrame, {}),
                 std::invalid_argument);
}

} // namespace
