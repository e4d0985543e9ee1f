// The evaluator on a published worked example: cocoapi's example bbox results for 100 COCO
// val2014 images, against those images' annotations, with the 12 numbers that COCO's
// official implementation gives (stated by Padilla et al.'s review_object_detection_metrics,
// tests/test_eval_coco.py). data/coco_val2014_sample/README.md gives sources and hashes.
#include "tools/eval/coco_evaluator.hpp"
#include "tools/eval/ground_truth_reader.hpp"
#include "tools/eval/results_reader.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace tierd::eval {
namespace {

const std::string kSampleDir = std::string(TIERD_EVAL_TEST_DATA_DIR) + "/coco_val2014_sample";

// Published to 6 decimals: a correct result is within 5e-7 of each.
constexpr double kPublishedTolerance = 1e-6;

void expect_published_numbers(const CocoSummary &s) {
    EXPECT_NEAR(s.ap50_95, 0.503647, kPublishedTolerance);
    EXPECT_NEAR(s.ap50, 0.696973, kPublishedTolerance);
    EXPECT_NEAR(s.ap75, 0.571667, kPublishedTolerance);
    EXPECT_NEAR(s.ap_small, 0.593252, kPublishedTolerance);
    EXPECT_NEAR(s.ap_medium, 0.557991, kPublishedTolerance);
    EXPECT_NEAR(s.ap_large, 0.489363, kPublishedTolerance);
    EXPECT_NEAR(s.ar1, 0.386813, kPublishedTolerance);
    EXPECT_NEAR(s.ar10, 0.593680, kPublishedTolerance);
    EXPECT_NEAR(s.ar100, 0.595353, kPublishedTolerance);
    EXPECT_NEAR(s.ar_small, 0.654764, kPublishedTolerance);
    EXPECT_NEAR(s.ar_medium, 0.603130, kPublishedTolerance);
    EXPECT_NEAR(s.ar_large, 0.553744, kPublishedTolerance);
}

TEST(PublishedExample, CocoApiExampleResultsGiveThePublishedSummary) {
    const GroundTruth truth = read_ground_truth(kSampleDir + "/ground_truth.json");
    const DetectionResults results = read_results(kSampleDir + "/results.json", truth);
    ASSERT_EQ(truth.image_ids.size(), 100u);
    ASSERT_EQ(truth.objects.size(), 830u);
    ASSERT_EQ(truth.categories.size(), 80u);
    ASSERT_EQ(results.format, ResultsFormat::coco_array);
    ASSERT_EQ(results.detections.size(), 734u);

    const CocoEvaluation evaluation = evaluate_coco(truth, results.detections);
    expect_published_numbers(evaluation.summary);

    // The summary's mAP is the mean of the per-category APs of the categories with objects.
    double sum = 0;
    std::size_t with_objects = 0;
    for (const CategoryScore &score : evaluation.per_category)
        if (score.ap50_95 > -1) {
            sum += score.ap50_95;
            ++with_objects;
        }
    EXPECT_EQ(with_objects, 70u);
    EXPECT_NEAR(sum / static_cast<double>(with_objects), evaluation.summary.ap50_95, 1e-12);
}

TEST(PublishedExample, SameResultsAsJsonLinesGiveTheSameNumbers) {
    // The example's detections rewritten as tierd result documents, one line per image,
    // with a classification result and a blank line in between that carry no detections.
    const GroundTruth truth = read_ground_truth(kSampleDir + "/ground_truth.json");
    const DetectionResults array = read_results(kSampleDir + "/results.json", truth);
    std::map<std::int64_t, nlohmann::json> frames;
    for (const Detection &d : array.detections) {
        nlohmann::json &frame = frames[d.image_id];
        frame["frame"] = d.image_id;
        frame["device"] = "end-1";
        frame["detections"].push_back({{"bbox", {d.box.x, d.box.y, d.box.width, d.box.height}},
                                       {"category_id", d.category_id},
                                       {"score", d.score}});
    }
    std::string lines = "{\"frame\": 0, \"label\": 3, \"score\": 0.5}\n\n";
    for (const auto &[id, frame] : frames)
        lines += frame.dump() + "\n";

    const DetectionResults jsonl = parse_results(lines, "example.jsonl", truth);
    EXPECT_EQ(jsonl.format, ResultsFormat::json_lines);
    EXPECT_EQ(jsonl.result_lines, 99u);
    EXPECT_EQ(jsonl.skipped_lines, 1u);
    ASSERT_EQ(jsonl.detections.size(), 734u);
    const CocoEvaluation from_lines = evaluate_coco(truth, jsonl.detections);
    const CocoEvaluation from_array = evaluate_coco(truth, array.detections);
    EXPECT_EQ(from_lines.summary.as_array(), from_array.summary.as_array());
    expect_published_numbers(from_lines.summary);
}

} // namespace
} // namespace tierd::eval
