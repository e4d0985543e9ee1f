#include "tools/eval/map_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>

namespace tierd::eval {

namespace {

// One summary line: what the number is, in the reference's layout.
struct SummaryLine {
    const char *kind; // "AP" or "AR"
    const char *iou;
    const char *area;
    std::size_t max_detections;
};

constexpr std::array<SummaryLine, 12> kSummaryLines = {{
    {"AP", "0.50:0.95", "all", 100},
    {"AP", "0.50", "all", 100},
    {"AP", "0.75", "all", 100},
    {"AP", "0.50:0.95", "small", 100},
    {"AP", "0.50:0.95", "medium", 100},
    {"AP", "0.50:0.95", "large", 100},
    {"AR", "0.50:0.95", "all", 1},
    {"AR", "0.50:0.95", "all", 10},
    {"AR", "0.50:0.95", "all", 100},
    {"AR", "0.50:0.95", "small", 100},
    {"AR", "0.50:0.95", "medium", 100},
    {"AR", "0.50:0.95", "large", 100},
}};

std::string score_text(double value) {
    return value > -1 ? fmt::format("{:.3f}", value) : "-";
}

std::size_t categories_with_objects(const CocoEvaluation &evaluation) {
    return static_cast<std::size_t>(
        std::count_if(evaluation.per_category.begin(), evaluation.per_category.end(),
                      [](const CategoryScore &score) { return score.ground_truth_objects > 0; }));
}

std::size_t crowd_regions(const CocoEvaluation &evaluation) {
    std::size_t crowds = 0;
    for (const CategoryScore &score : evaluation.per_category)
        crowds += score.crowd_regions;
    return crowds;
}

} // namespace

std::string map_report_text(const CocoEvaluation &evaluation, const DetectionResults &results,
                            const MapRunFacts &facts) {
    std::string out;
    auto line = std::back_inserter(out);
    fmt::format_to(line,
                   "ground truth  {}: {} images, {} objects ({} crowd regions), {} categories "
                   "({} with objects)\n",
                   facts.ground_truth_path, evaluation.images, evaluation.ground_truth_objects,
                   crowd_regions(evaluation), evaluation.per_category.size(),
                   categories_with_objects(evaluation));
    if (results.format == ResultsFormat::coco_array)
        fmt::format_to(line, "results       {}: COCO results array (starts with '['), ",
                       facts.results_path);
    else
        fmt::format_to(line,
                       "results       {}: JSON Lines (does not start with '['), {} result lines, "
                       "{} lines without \"detections\" skipped, {} frames on several lines, ",
                       facts.results_path, results.result_lines, results.skipped_lines,
                       results.repeated_frames);
    fmt::format_to(line, "{} detections", results.detections.size());
    if (evaluation.detections_other_category > 0)
        fmt::format_to(line, " ({} of a category the ground truth does not have: left out)",
                       evaluation.detections_other_category);
    out += "\n";

    const auto values = evaluation.summary.as_array();
    for (std::size_t i = 0; i < kSummaryLines.size(); ++i) {
        const SummaryLine &s = kSummaryLines[i];
        fmt::format_to(line, " {} @[ IoU={:<9} | area={:>6} | maxDets={:>3} ] = {:.3f}\n", s.kind,
                       s.iou, s.area, s.max_detections, values[i]);
    }

    out +=
        "per category (area all, maxDets 100; \"-\" = no ground truth, left out of the means):\n";
    fmt::format_to(line, "  {:>6} {:<20} {:>8} {:>10} {:>7} {:>11}\n", "id", "name", "objects",
                   "detections", "AP@0.5", "AP@.5:.95");
    for (const CategoryScore &score : evaluation.per_category)
        fmt::format_to(line, "  {:>6} {:<20} {:>8} {:>10} {:>7} {:>11}\n", score.category.id,
                       score.category.name, score.ground_truth_objects, score.detections,
                       score_text(score.ap50), score_text(score.ap50_95));
    fmt::format_to(line, "time          load {:.1f} ms, evaluate {:.1f} ms\n", facts.load_ms,
                   facts.evaluate_ms);
    return out;
}

nlohmann::ordered_json map_report_json(const CocoEvaluation &evaluation,
                                       const DetectionResults &results, const MapRunFacts &facts) {
    const CocoSummary &s = evaluation.summary;
    nlohmann::ordered_json report;
    report["map50"] = s.ap50;
    report["map50_95"] = s.ap50_95;
    report["map75"] = s.ap75;
    report["map_small"] = s.ap_small;
    report["map_medium"] = s.ap_medium;
    report["map_large"] = s.ap_large;
    report["ar1"] = s.ar1;
    report["ar10"] = s.ar10;
    report["ar100"] = s.ar100;
    report["ar_small"] = s.ar_small;
    report["ar_medium"] = s.ar_medium;
    report["ar_large"] = s.ar_large;
    report["stats"] = s.as_array();

    nlohmann::ordered_json per_class = nlohmann::ordered_json::array();
    for (const CategoryScore &score : evaluation.per_category)
        per_class.push_back({{"category_id", score.category.id},
                             {"name", score.category.name},
                             {"gt", score.ground_truth_objects},
                             {"gt_crowd", score.crowd_regions},
                             {"detections", score.detections},
                             {"ap50", score.ap50},
                             {"ap50_95", score.ap50_95}});
    report["per_class"] = std::move(per_class);

    report["images"] = evaluation.images;
    report["gt"] = evaluation.ground_truth_objects - crowd_regions(evaluation);
    report["gt_crowd"] = crowd_regions(evaluation);
    report["detections"] = results.detections.size();
    report["detections_other_category"] = evaluation.detections_other_category;
    report["results_format"] = results_format_name(results.format);
    report["result_lines"] = results.result_lines;
    report["skipped_lines"] = results.skipped_lines;
    report["repeated_frames"] = results.repeated_frames;
    report["ground_truth_file"] = facts.ground_truth_path;
    report["results_file"] = facts.results_path;
    report["load_ms"] = facts.load_ms;
    report["evaluate_ms"] = facts.evaluate_ms;
    return report;
}

} // namespace tierd::eval
