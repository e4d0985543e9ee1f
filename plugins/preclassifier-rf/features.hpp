// Image-complexity features of Ren et al. (Chinese Journal of Computers, 2020), the 7 their
// Edge-based pre-classifier keeps, computed with OpenCV's core and imgproc modules only.
//
// Shared by the preclassifier-rf plugin and the preclass_train tool (static library
// tierd_preclass_features), so training and inference compute exactly the same numbers.
//
// Order and definitions (see features.cpp for the details):
//   0 n_keypoints              corner count (Shi-Tomasi, cv::goodFeaturesToTrack)
//   1 aspect_ratio             width / height of the main object's bounding box
//   2 area_by_perim            contour area / contour perimeter of the main object
//   3 intensity1               first bin of a 7-bin normalised INTENSITY histogram
//                              (the paper's hue1; grayscale input has no hue)
//   4 edge_length1             first bin of a 7-bin normalised histogram of edge-contour
//                              lengths
//   5 contrast                 standard deviation of the gray levels
//   6 avg_perceived_brightness mean perceived brightness, 0..255
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <cstddef>

namespace tierd::preclass {

inline constexpr std::size_t kFeatureCount = 7;
inline constexpr const char *const kFeatureNames[kFeatureCount] = {
    "n_keypoints", "aspect_ratio", "area_by_perim",           "intensity1",
    "edge_length1", "contrast",    "avg_perceived_brightness"};

// Number of histogram bins for intensity1 and edge_length1 (as in the paper).
inline constexpr int kHistBins = 7;

using Features = std::array<float, kFeatureCount>;

// Features of an 8-bit image: CV_8UC1 (gray), CV_8UC3 (BGR order) or CV_8UC4 (BGRA,
// alpha ignored). Any size >= 1x1. Throws std::invalid_argument for other types or an
// empty image. Thread-safe (no shared state).
Features compute_features(const cv::Mat &image);

// Same, for RGB-ordered 3-channel data (converted to BGR first).
Features compute_features_rgb(const cv::Mat &rgb);

} // namespace tierd::preclass
