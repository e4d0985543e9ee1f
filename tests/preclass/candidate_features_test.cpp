// The trainer's 29 candidate features and its screening statistics (tool-only code of
// plugins/preclassifier-rf/candidate_features.cpp).
#include "candidate_features.hpp"
#include "features.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace tierd::preclass;

float at(const CandidateFeatures &f, const char *name) {
    return f[candidate_index(name)];
}

float bin_sum(const CandidateFeatures &f, const std::string &stem) {
    float s = 0;
    for (int b = 1; b <= kHistBins; ++b)
        s += at(f, (stem + std::to_string(b)).c_str());
    return s;
}

cv::Mat rectangle(int x, int y, int w, int h) {
    cv::Mat m(28, 28, CV_8UC1, cv::Scalar(0));
    m(cv::Rect(x, y, w, h)).setTo(255);
    return m;
}

cv::Mat noise(unsigned seed) {
    cv::Mat m(28, 28, CV_8UC1);
    cv::RNG rng(seed);
    rng.fill(m, cv::RNG::UNIFORM, 0, 256);
    cv::GaussianBlur(m, m, cv::Size(3, 3), 0);
    return m;
}

TEST(PreclassCandidates, AreThePapers29WithUniqueNames) {
    ASSERT_EQ(kCandidateCount, 29u);
    std::set<std::string> names(kCandidateNames, kCandidateNames + kCandidateCount);
    EXPECT_EQ(names.size(), kCandidateCount);
    for (const char *n : kFeatureNames)
        EXPECT_TRUE(names.count(n)) << n;
    EXPECT_EQ(candidate_index("edge_angle7"), 27u);
    EXPECT_THROW(candidate_index("hue1"), std::out_of_range);
}

TEST(PreclassCandidates, ThePluginsSevenHaveThePluginsValues) {
    for (const cv::Mat &img : {rectangle(8, 10, 12, 6), noise(1), noise(2)}) {
        const CandidateFeatures c = compute_candidates(img);
        const Features f = compute_features(img);
        for (std::size_t k = 0; k < kFeatureCount; ++k)
            EXPECT_EQ(c[candidate_index(kFeatureNames[k])], f[k]) << kFeatureNames[k];
    }
}

TEST(PreclassCandidates, HistogramsAreFractionsThatAddUp) {
    // The first bins come from features.cpp, the others from candidate_features.cpp: a sum
    // of 1 shows that both cut the same histogram.
    for (const cv::Mat &img : {rectangle(8, 10, 12, 6), noise(3), noise(4)}) {
        const CandidateFeatures c = compute_candidates(img);
        EXPECT_NEAR(bin_sum(c, "intensity"), 1.0f, 1e-5);
        EXPECT_NEAR(bin_sum(c, "edge_length"), 1.0f, 1e-5);
        EXPECT_NEAR(bin_sum(c, "edge_angle"), 1.0f, 1e-5);
    }
    const CandidateFeatures flat = compute_candidates(cv::Mat(28, 28, CV_8UC1, cv::Scalar(7)));
    EXPECT_EQ(bin_sum(flat, "edge_length"), 0.0f); // no edges
    EXPECT_EQ(bin_sum(flat, "edge_angle"), 0.0f);
}

TEST(PreclassCandidates, GrayBrightnessPairsCoincide) {
    const cv::Mat img = noise(5);
    const CandidateFeatures c = compute_candidates(img);
    EXPECT_FLOAT_EQ(at(c, "perceived_brightness_rms"), at(c, "brightness_rms"));
    EXPECT_FLOAT_EQ(at(c, "avg_brightness"), at(c, "avg_perceived_brightness"));
}

TEST(PreclassCandidates, WhiteRectangleHasClosedFormBrightnessAndAxisEdges) {
    const CandidateFeatures c = compute_candidates(rectangle(8, 10, 12, 6));
    const double p = 12.0 * 6.0 / (28 * 28);
    EXPECT_NEAR(at(c, "brightness_rms"), 255.0 * std::sqrt(p), 1e-3);
    EXPECT_NEAR(at(c, "avg_brightness"), 255.0 * p, 1e-3);
    // Horizontal edges fall in bin 1 ([0, 25.7) degrees), vertical ones in bin 4
    // ([77.1, 102.9)); only the corners lie elsewhere.
    EXPECT_GT(at(c, "edge_angle1") + at(c, "edge_angle4"), 0.7f);
    EXPECT_GT(at(c, "edge_angle1"), at(c, "edge_angle4")); // the rectangle is wider than tall
}

TEST(PreclassCandidates, ColourInputWorksAndOtherTypesThrow) {
    cv::Mat bgr;
    cv::cvtColor(noise(6), bgr, cv::COLOR_GRAY2BGR);
    const CandidateFeatures c = compute_candidates(bgr);
    EXPECT_NEAR(at(c, "perceived_brightness_rms"), at(c, "brightness_rms"), 1e-3);
    EXPECT_THROW(compute_candidates(cv::Mat()), std::invalid_argument);
    EXPECT_THROW(compute_candidates(cv::Mat(4, 4, CV_32F, cv::Scalar(0))), std::invalid_argument);
}

TEST(PreclassSelection, PearsonOfLinearMapsIsPlusOrMinusOne) {
    cv::Mat x(50, 3, CV_32F);
    for (int i = 0; i < x.rows; ++i) {
        const float v = static_cast<float>((i * 37) % 11);
        x.at<float>(i, 0) = v;
        x.at<float>(i, 1) = 2 * v + 1;
        x.at<float>(i, 2) = -v;
    }
    const cv::Mat r = pearson_matrix(x);
    EXPECT_NEAR(r.at<double>(0, 1), 1.0, 1e-9);
    EXPECT_NEAR(r.at<double>(0, 2), -1.0, 1e-9);
    EXPECT_DOUBLE_EQ(r.at<double>(1, 1), 1.0);
}

TEST(PreclassSelection, CorrelationFilterDropsTheMoreCorrelatedMember) {
    // 0-1 correlate 0.9; 1 also correlates 0.5 with 2, so 1 goes.
    cv::Mat r = (cv::Mat_<double>(3, 3) << 1, 0.9, 0.1, 0.9, 1, 0.5, 0.1, 0.5, 1);
    auto f = correlation_filter(r, 0.75, {});
    EXPECT_EQ(f.kept, (std::vector<std::size_t>{0, 2}));
    ASSERT_EQ(f.dropped.size(), 1u);
    EXPECT_EQ(f.dropped[0].dropped, 1u);
    EXPECT_EQ(f.dropped[0].kept, 0u);
    EXPECT_DOUBLE_EQ(f.dropped[0].r, 0.9);
    // An exact tie drops the later column, unless only the later one is preferred.
    cv::Mat tie = (cv::Mat_<double>(3, 3) << 1, -1, 0.2, -1, 1, 0.2, 0.2, 0.2, 1);
    EXPECT_EQ(correlation_filter(tie, 0.75, {}).kept, (std::vector<std::size_t>{0, 2}));
    EXPECT_EQ(correlation_filter(tie, 0.75, {false, true, false}).kept,
              (std::vector<std::size_t>{1, 2}));
    EXPECT_EQ(correlation_filter(tie, 1.0, {}).kept, (std::vector<std::size_t>{0, 1, 2}));
}

TEST(PreclassSelection, ChiSquareOfTheLabelItselfIsN) {
    const int n = 40;
    std::vector<int> y(n);
    cv::Mat x(n, 3, CV_32F);
    for (int i = 0; i < n; ++i) {
        y[static_cast<std::size_t>(i)] = i % 4 == 0;
        x.at<float>(i, 0) = static_cast<float>(y[static_cast<std::size_t>(i)]); // the label
        x.at<float>(i, 1) = 3.0f;                                               // constant
        x.at<float>(i, 2) = static_cast<float>(i % 2); // odd rows are all LIGHT
    }
    const auto chi = chi_square(x, y, 10);
    ASSERT_EQ(chi.size(), 3u);
    EXPECT_NEAR(chi[0], n, 1e-9); // a perfect 2 x 2 association: chi-square = n
    EXPECT_EQ(chi[1], 0.0);
    EXPECT_NEAR(chi[2], 40.0 / 3.0, 1e-9);
}

} // namespace
