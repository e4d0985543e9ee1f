// Detector outputs made from a tierd-videogen ground truth, for the fusion tests: an ideal
// heavy (upstream) detector and a weak light (end) one. Deterministic for a seed: the
// random draws are mt19937_64 outputs mapped by hand (std::*_distribution differ between
// standard libraries).
#pragma once

#include "tools/eval/detection_data.hpp"

#include <tierd/plugin.h>

#include <cstdint>
#include <map>
#include <vector>

namespace fusion_test {

using FrameBoxes = std::map<int64_t, std::vector<tierd_detection>>;

// Every annotated object of every frame (crowd regions included: a detector sees them),
// score 0.95, class = category_id - 1.
FrameBoxes heavy_detector(const tierd::eval::GroundTruth &truth);

// Each object kept with probability `keep`, independently per frame, its centre moved and
// its size changed by up to `jitter` of its size; scores 0.4-0.8.
FrameBoxes light_detector(const tierd::eval::GroundTruth &truth, double keep, double jitter,
                          uint64_t seed);

// `boxes` as tierd-eval detections of frame `frame` (category_id = class + 1).
void append_detections(std::vector<tierd::eval::Detection> &out, int64_t frame,
                       const std::vector<tierd_detection> &boxes);

// The ground truth restricted to frames [first, last].
tierd::eval::GroundTruth frames_of(const tierd::eval::GroundTruth &truth, int64_t first,
                                   int64_t last);

} // namespace fusion_test
