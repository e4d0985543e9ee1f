// Reads a detector's results in one of two formats, told apart by content: if the first
// character that is not white space is '[', a COCO results array
//   [{"image_id": 42, "category_id": 3, "bbox": [x, y, w, h], "score": 0.9}, ...]
// else JSON Lines as tierd agents write result documents, one object per line:
//   {"frame": 42, "detections": [{"bbox": [x, y, w, h], "category_id": 3, "score": 0.9}], ...}
// where "frame" is the ground truth's image id and other keys are ignored. A line without
// "detections" (a classification result, say) is skipped and counted; a blank line is
// skipped. A frame that is on several lines contributes the detections of all of them.
//
// Results that name an image the ground truth does not have are an error, as in COCO: an
// evaluation over the wrong images must not look like a poor detector. docs/eval.md gives
// both formats.
#pragma once

#include "tools/eval/detection_data.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tierd::eval {

enum class ResultsFormat { coco_array, json_lines };

// "coco-array" or "jsonl", the names the report uses.
std::string_view results_format_name(ResultsFormat format);

struct DetectionResults {
    ResultsFormat format = ResultsFormat::coco_array;
    std::vector<Detection> detections; // in file order
    // JSON Lines only: lines with "detections", lines without (skipped), and how many
    // frames were on more than one line.
    std::size_t result_lines = 0;
    std::size_t skipped_lines = 0;
    std::size_t repeated_frames = 0;
};

// Parses results held in `text`, checking their image ids against `truth`; `source` names
// the file in errors (with the line for JSON Lines). Throws InputError.
DetectionResults parse_results(std::string_view text, const std::string &source,
                               const GroundTruth &truth);

// Reads and parses the file at `path`. Throws InputError.
DetectionResults read_results(const std::string &path, const GroundTruth &truth);

} // namespace tierd::eval
