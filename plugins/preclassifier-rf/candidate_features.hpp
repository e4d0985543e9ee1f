// The 29 candidate image-complexity features of Ren et al. 2020 (their Table 2), from which
// the paper's feature selection keeps the 7 of features.hpp, and the two screening
// statistics the selection uses (Pearson correlation filter, chi-square vs the label).
//
// Tool-only code: linked into preclass_train (and its tests), never into the plugin. The 7
// features the plugin computes are taken from compute_features() unchanged, so a candidate
// with the same name has exactly the plugin's value.
//
// Order (the paper's Table 2; see candidate_features.cpp for the definitions):
//   n_keypoints, brightness_rms, perceived_brightness_rms, edge_length1..7, area_by_perim,
//   intensity1..7 (the paper's hue1..7: grayscale input has no hue), avg_brightness,
//   avg_perceived_brightness, contrast, edge_angle1..7, aspect_ratio
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace tierd::preclass {

inline constexpr std::size_t kCandidateCount = 29;
extern const char *const kCandidateNames[kCandidateCount];

using CandidateFeatures = std::array<float, kCandidateCount>;

// Candidates of an 8-bit image, CV_8UC1 (gray) or CV_8UC3 (BGR). Throws
// std::invalid_argument for other types or an empty image. Thread-safe.
CandidateFeatures compute_candidates(const cv::Mat &image);

// Index of `name` in kCandidateNames; throws std::out_of_range when it is not a candidate.
std::size_t candidate_index(const std::string &name);

// Pearson correlation between the columns of `x` (CV_32F or CV_64F, one sample per row):
// a CV_64F cols x cols matrix; a constant column correlates 0 with everything (1 with
// itself).
cv::Mat pearson_matrix(const cv::Mat &x);

// One feature the correlation filter removed: `dropped` correlates `r` with `kept`.
struct CorrelatedDrop {
    std::size_t dropped = 0;
    std::size_t kept = 0;
    double r = 0;
};

struct CorrelationFilter {
    std::vector<std::size_t> kept; // ascending column order
    std::vector<CorrelatedDrop> dropped;
};

// Drops one feature of each pair with |r| > limit, greedily: take the remaining pair with
// the largest |r|, drop the member with the larger mean |r| to the other remaining features
// (as caret's findCorrelation does); on an exact tie drop the one not marked in `prefer`
// (here: not one of the plugin's 7), then the later column. Repeats until no pair exceeds
// the limit. `prefer` may be empty.
CorrelationFilter correlation_filter(const cv::Mat &r, double limit,
                                     const std::vector<bool> &prefer);

// Chi-square statistic of each column of `x` against the binary label `y` (0/1): the
// column is min-max normalised to [0, 1], cut into `bins` equal bins (1 goes to the last),
// and the bins x 2 contingency table is tested for independence (sum of (O - E)^2 / E over
// cells with E > 0). A constant column scores 0.
std::vector<double> chi_square(const cv::Mat &x, const std::vector<int> &y, int bins);

} // namespace tierd::preclass
