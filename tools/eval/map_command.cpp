#include "tools/eval/map_command.hpp"

#include "tools/eval/coco_evaluator.hpp"
#include "tools/eval/ground_truth_reader.hpp"
#include "tools/eval/map_report.hpp"
#include "tools/eval/results_reader.hpp"

#include <chrono>
#include <ostream>

namespace tierd::eval {

namespace {

double milliseconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

} // namespace

int run_map_command(const MapOptions &options, std::ostream &out, std::ostream &err) {
    try {
        MapRunFacts facts{options.ground_truth_path, options.results_path, 0, 0};
        const auto load_start = std::chrono::steady_clock::now();
        const GroundTruth truth = read_ground_truth(options.ground_truth_path);
        const DetectionResults results = read_results(options.results_path, truth);
        facts.load_ms = milliseconds_since(load_start);

        if (results.skipped_lines > 0)
            err << "tierd-eval: " << options.results_path << ": " << results.skipped_lines
                << " lines without \"detections\" skipped\n";
        if (results.repeated_frames > 0)
            err << "tierd-eval: " << options.results_path << ": " << results.repeated_frames
                << " frames appear on more than one line; all their detections count\n";

        const auto evaluate_start = std::chrono::steady_clock::now();
        const CocoEvaluation evaluation = evaluate_coco(truth, results.detections);
        facts.evaluate_ms = milliseconds_since(evaluate_start);

        if (evaluation.detections_other_category > 0)
            err << "tierd-eval: " << evaluation.detections_other_category
                << " detections name a category that is not in the ground truth's "
                   "\"categories\"; left out, as COCO does\n";

        if (options.json)
            out << map_report_json(evaluation, results, facts).dump() << "\n";
        else
            out << map_report_text(evaluation, results, facts);
        return kExitOk;
    } catch (const InputError &error) {
        err << "tierd-eval: " << error.what() << "\n";
        return kExitInput;
    }
}

} // namespace tierd::eval
