// fusion-replay's inputs and output: detector results as JSON Lines in tierd-eval's format
// (docs/eval.md), one object per frame:
//   {"frame": 42, "detections": [{"bbox": [x, y, w, h], "category_id": 3, "score": 0.9}]}
// category_id is 1-based (COCO); tierd_detection.class_id is category_id - 1.
#pragma once

#include <tierd/plugin.h>

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace fusion_replay {

using FrameDetections = std::map<int64_t, std::vector<tierd_detection>>;

// Reads a results file: frame -> its detections (a frame on several lines gets all of
// them; lines without "detections" are skipped). Throws ReplayError naming FILE:LINE.
FrameDetections read_detections_jsonl(const std::string &path);

// One output line for `frame` with `detections` (bbox, category_id, score, plus the
// fusion's track_id and flags).
void write_detections_line(std::ostream &out, int64_t frame, const tierd_detection *detections,
                           uint32_t count);

} // namespace fusion_replay
