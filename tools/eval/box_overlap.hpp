// The overlap COCO scores a detection against a ground-truth box with (bbox IoU type).
#pragma once

#include "tools/eval/detection_data.hpp"

#include <algorithm>

namespace tierd::eval {

// Intersection over union of the two boxes, in [0, 1]; boxes that only touch, or have no
// area, overlap 0. Against a crowd region the union is replaced by the detection's own
// area (intersection / detection area), so a detection that lies inside a crowd overlaps
// it fully however large the crowd is. Box areas are width × height here, never the
// annotation's "area" field (COCO does the same).
inline double box_overlap(const Box &detection, const Box &truth, bool truth_is_crowd) {
    const double overlap_w = std::min(detection.x + detection.width, truth.x + truth.width) -
                             std::max(detection.x, truth.x);
    if (overlap_w <= 0)
        return 0;
    const double overlap_h = std::min(detection.y + detection.height, truth.y + truth.height) -
                             std::max(detection.y, truth.y);
    if (overlap_h <= 0)
        return 0;
    const double intersection = overlap_w * overlap_h;
    const double detection_area = box_area(detection);
    const double denominator =
        truth_is_crowd ? detection_area : detection_area + box_area(truth) - intersection;
    return intersection / denominator;
}

} // namespace tierd::eval
