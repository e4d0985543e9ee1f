// COCO's detection metrics (the bbox protocol of the reference evaluator, pycocotools'
// COCOeval with its default parameters), computed from a GroundTruth and detections.
// docs/eval.md lists the rules implemented, one by one.
//
// In short: per image and category, detections are taken by descending score (ties keep
// their input order), at most 100, and each is matched greedily to the not yet matched
// ground-truth object it overlaps most, if that overlap is >= the IoU threshold; crowd
// regions and objects outside the area range are matched only when nothing else is left,
// and such matches are ignored. Precision is sampled at 101 recall points on its monotone
// envelope; AP is their mean; mAP is the mean over the categories that have ground truth.
//
// Pure computation on values; any thread.
#pragma once

#include "tools/eval/detection_data.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace tierd::eval {

// The fixed COCO parameters.
inline constexpr std::size_t kIouThresholdCount = 10; // 0.50, 0.55, ..., 0.95
inline constexpr std::size_t kRecallPointCount = 101; // 0.00, 0.01, ..., 1.00
inline constexpr std::array<std::size_t, 3> kMaxDetections = {1, 10, 100};

// Object size ranges by ground-truth "area" (detections: width × height), in pixels²,
// bounds included on both sides as in COCO: small [0, 32²], medium [32², 96²],
// large [96², 1e10]; all [0, 1e10].
enum class AreaRange : std::uint8_t { all, small, medium, large };
inline constexpr std::size_t kAreaRangeCount = 4;
std::string_view area_range_name(AreaRange range);

// The i-th IoU threshold (i < kIouThresholdCount) and the r-th recall point
// (r < kRecallPointCount), with the same floating-point values as the reference.
double iou_threshold(std::size_t i);
double recall_point(std::size_t r);

// COCO's 12 summary numbers, each in [0, 1], or -1 where no category has ground truth in
// that range. AP = average precision, AR = average recall (the recall reached, averaged
// over the 10 IoU thresholds and the categories).
struct CocoSummary {
    double ap50_95 = -1;   // IoU .50:.95, area all, 100 detections per image
    double ap50 = -1;      // IoU .50
    double ap75 = -1;      // IoU .75
    double ap_small = -1;  // IoU .50:.95 on small objects
    double ap_medium = -1; //                 medium
    double ap_large = -1;  //                 large
    double ar1 = -1;       // IoU .50:.95, area all, 1 detection per image
    double ar10 = -1;      //                        10
    double ar100 = -1;     //                        100
    double ar_small = -1;  // IoU .50:.95, 100 detections per image, small objects
    double ar_medium = -1;
    double ar_large = -1;

    // The 12 numbers in pycocotools' `stats` order (the order of the fields above).
    std::array<double, 12> as_array() const;
};

// One category's scores at area all and 100 detections per image; -1 when the category
// has no (non-crowd) ground-truth object, in which case it is left out of every mean.
struct CategoryScore {
    Category category;
    double ap50 = -1;
    double ap50_95 = -1;
    std::size_t ground_truth_objects = 0; // not counting crowd regions
    std::size_t crowd_regions = 0;
    std::size_t detections = 0; // all of this category, before the per-image limit
};

struct CocoEvaluation {
    CocoSummary summary;
    std::vector<CategoryScore> per_category; // by ascending category id

    std::size_t images = 0;
    std::size_t ground_truth_objects = 0;      // counting crowd regions
    std::size_t detections_evaluated = 0;      // in a category of the ground truth
    std::size_t detections_other_category = 0; // in none: left out, as COCO does

    // The tables behind the summary, for callers that need other cuts. For IoU threshold t,
    // category k (index into per_category), area range a and the m-th entry of
    // kMaxDetections: average_precision is the mean of the interpolated precision at the 101
    // recall points, recall the recall reached; both -1 where the category has no counted
    // ground truth in that area range.
    double average_precision(std::size_t t, std::size_t k, AreaRange a, std::size_t m) const;
    double recall(std::size_t t, std::size_t k, AreaRange a, std::size_t m) const;

    std::vector<double> average_precision_table; // layout private to coco_evaluator.cpp
    std::vector<double> recall_table;
};

// Evaluates `detections` against `truth`. Detections on images that are not in `truth`
// are the caller's error (the readers reject them) and are left out; detections of a
// category that is not in truth.categories are left out and counted. Empty detections give
// 0 for every category that has ground truth.
CocoEvaluation evaluate_coco(const GroundTruth &truth, std::span<const Detection> detections);

} // namespace tierd::eval
