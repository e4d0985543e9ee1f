// tierd-eval — evaluation tools for tierd's benchmarks. `map` computes COCO detection
// metrics (mAP@0.5, mAP@[.5:.95] and the rest of COCO's summary). docs/eval.md is its
// manual.
#include "tierd_version.h"
#include "tools/eval/map_command.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

constexpr const char *kFooter =
    "Exit codes: 0 evaluated; 1 an input file cannot be read, is malformed, or names an image\n"
    "that is not in the ground truth; 2 bad command line. Manual: docs/eval.md.\n";

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"tierd-eval — detection metrics for tierd's benchmarks"};
    app.set_version_flag("--version", std::string("tierd-eval ") + TIERD_VERSION_STRING);
    app.footer(kFooter);
    app.require_subcommand(1);

    tierd::eval::MapOptions map_options;
    std::string iou_type = "bbox";
    CLI::App *map = app.add_subcommand(
        "map", "COCO detection metrics of RESULTS against the ground truth GT: the 12 numbers of "
               "COCO's summary (mAP@[.5:.95], mAP@0.5, ...) and AP per category");
    map->add_option("GT", map_options.ground_truth_path,
                    "Ground truth: a COCO dataset JSON (images, annotations, categories)")
        ->required();
    map->add_option("RESULTS", map_options.results_path,
                    "Detections: a COCO results JSON array, or JSON Lines of tierd result "
                    "documents ({\"frame\": image id, \"detections\": [...]} per line); told "
                    "apart by the first non-blank character ('[' = array)")
        ->required();
    map->add_flag("--json,-j", map_options.json,
                  "Print one JSON object instead of the text report");
    map->add_option("--iou-type", iou_type, "Overlap measure; only bbox (boxes) is implemented")
        ->check(CLI::IsMember({"bbox"}))
        ->capture_default_str();
    map->footer(kFooter);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        // --help and --version end here with 0; every real parse error is a usage error.
        return app.exit(e) == 0 ? tierd::eval::kExitOk : tierd::eval::kExitUsage;
    }
    return tierd::eval::run_map_command(map_options, std::cout, std::cerr);
}
