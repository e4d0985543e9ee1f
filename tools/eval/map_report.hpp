// What `tierd-eval map` prints: COCO's 12-line summary plus one line per category as text
// for a person, or one JSON object for scripts (bench/video reads it). docs/eval.md shows
// both and names every JSON key.
#pragma once

#include "tools/eval/coco_evaluator.hpp"
#include "tools/eval/results_reader.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace tierd::eval {

// The inputs of one run, as the report names them.
struct MapRunFacts {
    std::string ground_truth_path;
    std::string results_path;
    double load_ms = 0;     // reading and parsing both files
    double evaluate_ms = 0; // evaluate_coco alone
};

std::string map_report_text(const CocoEvaluation &evaluation, const DetectionResults &results,
                            const MapRunFacts &facts);

// Keys in a fixed order; metrics in [0, 1], -1 where undefined (no ground truth).
nlohmann::ordered_json map_report_json(const CocoEvaluation &evaluation,
                                       const DetectionResults &results, const MapRunFacts &facts);

} // namespace tierd::eval
