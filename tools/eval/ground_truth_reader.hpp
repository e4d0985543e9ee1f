// Reads the ground truth of a detection benchmark from a COCO dataset file (the "instances"
// JSON: "images", "annotations", "categories"; other keys are ignored).
//
// Stricter than COCO where COCO would silently evaluate something else than meant: an
// annotation whose image or category is not listed, a duplicate image or category id, and
// a negative box size are errors. Optional with a default: "area" (width × height) and
// "iscrowd" (0). An annotation's "ignore" key is not read, as in the reference evaluator
// (there only "iscrowd" makes an object ignored). docs/eval.md gives the format.
#pragma once

#include "tools/eval/detection_data.hpp"

#include <string>
#include <string_view>

namespace tierd::eval {

// Parses a COCO dataset held in `text`; `source` names it in errors. Throws InputError.
GroundTruth parse_ground_truth(std::string_view text, const std::string &source);

// Reads and parses the file at `path`. Throws InputError.
GroundTruth read_ground_truth(const std::string &path);

} // namespace tierd::eval
