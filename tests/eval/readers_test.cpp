// The ground-truth and results readers: what they accept, and that every malformed input
// is an InputError saying where (file, JSON path or line) and what.
#include "tools/eval/ground_truth_reader.hpp"
#include "tools/eval/json_place.hpp"
#include "tools/eval/results_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

namespace tierd::eval {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The InputError message `action` throws; fails the test if it throws none.
std::string error_of(const std::function<void()> &action) {
    try {
        action();
    } catch (const InputError &error) {
        return error.what();
    }
    ADD_FAILURE() << "no InputError thrown";
    return {};
}

std::string gt_error(const std::string &text) {
    return error_of([&] { parse_ground_truth(text, "gt.json"); });
}

// Two images (1, 2), two categories (1, 2), one object.
constexpr const char *kSmallDataset = R"({
  "images": [{"id": 1, "file_name": "a.png"}, {"id": 2}],
  "categories": [{"id": 1, "name": "shirt"}, {"id": 2}],
  "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]
})";

GroundTruth small_dataset() {
    return parse_ground_truth(kSmallDataset, "gt.json");
}

std::string results_error(const std::string &text, const std::string &source) {
    const GroundTruth truth = small_dataset();
    return error_of([&] { parse_results(text, source, truth); });
}

TEST(GroundTruthReader, ReadsImagesCategoriesAndAnnotations) {
    const GroundTruth truth = parse_ground_truth(R"({
      "info": {"year": 2026},
      "images": [{"id": 10}, {"id": 11}],
      "categories": [{"id": 3, "name": "bag"}, {"id": 4}],
      "annotations": [
        {"image_id": 10, "category_id": 3, "bbox": [1.5, 2, 10, 20]},
        {"image_id": 11, "category_id": 4, "bbox": [0, 0, 5, 5], "area": 12.5, "iscrowd": 1,
         "ignore": 1}
      ]})",
                                                 "gt.json");
    EXPECT_EQ(truth.image_ids, (std::vector<std::int64_t>{10, 11}));
    ASSERT_EQ(truth.categories.size(), 2u);
    EXPECT_EQ(truth.categories[0].name, "bag");
    EXPECT_EQ(truth.categories[1].name, "");
    ASSERT_EQ(truth.objects.size(), 2u);
    EXPECT_DOUBLE_EQ(truth.objects[0].box.x, 1.5);
    EXPECT_DOUBLE_EQ(truth.objects[0].area_px2, 200.0); // no "area": width × height
    EXPECT_FALSE(truth.objects[0].is_crowd);            // no "iscrowd": 0
    EXPECT_DOUBLE_EQ(truth.objects[1].area_px2, 12.5);
    EXPECT_TRUE(truth.objects[1].is_crowd);
}

TEST(GroundTruthReader, SyntaxErrorNamesFileLineAndColumn) {
    EXPECT_THAT(gt_error("{\n  \"images\": [,]\n}"),
                AllOf(StartsWith("gt.json: not valid JSON: "), HasSubstr("line 2")));
}

TEST(GroundTruthReader, MissingOrMistypedSectionIsAnError) {
    EXPECT_EQ(gt_error(R"({"categories": [], "annotations": []})"), "gt.json: missing \"images\"");
    EXPECT_EQ(gt_error(R"({"images": {}, "categories": [], "annotations": []})"),
              "gt.json: images: expected an array, got an object");
    EXPECT_THAT(gt_error("[]"), StartsWith("gt.json: expected a COCO dataset"));
}

TEST(GroundTruthReader, MalformedAnnotationNamesItsPath) {
    const std::string head = R"({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, )";
    EXPECT_EQ(gt_error(head + R"({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]})"),
              "gt.json: annotations[1].bbox: expected 4 numbers [x, y, width, height], got 3 "
              "values");
    EXPECT_EQ(gt_error(head + R"({"image_id": 1, "category_id": 1, "bbox": [0, "0", 1, 1]}]})"),
              "gt.json: annotations[1].bbox[1]: expected a number, got a string");
    EXPECT_THAT(gt_error(head + R"({"image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1]}]})"),
                StartsWith("gt.json: annotations[1].bbox: width and height must be >= 0"));
    EXPECT_EQ(gt_error(head + R"({"image_id": 1.5, "category_id": 1, "bbox": [0, 0, 1, 1]}]})"),
              "gt.json: annotations[1].image_id: expected an integer, got a number with a "
              "fraction");
    EXPECT_EQ(gt_error(head + R"({"category_id": 1, "bbox": [0, 0, 1, 1]}]})"),
              "gt.json: annotations[1]: missing \"image_id\"");
    EXPECT_EQ(gt_error(head + R"({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                                  "iscrowd": 2}]})"),
              "gt.json: annotations[1].iscrowd: expected 0 or 1");
}

TEST(GroundTruthReader, AnnotationMustNameAListedImageAndCategory) {
    const std::string head =
        R"({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [)";
    EXPECT_EQ(gt_error(head + R"({"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]}]})"),
              "gt.json: annotations[0].image_id: image 9 is not in \"images\"");
    EXPECT_EQ(gt_error(head + R"({"image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1]}]})"),
              "gt.json: annotations[0].category_id: category 7 is not in \"categories\"");
}

TEST(GroundTruthReader, DuplicateIdsAreAnError) {
    EXPECT_EQ(gt_error(R"({"images": [{"id": 1}, {"id": 1}], "categories": [],
                           "annotations": []})"),
              "gt.json: images[1].id: image id 1 appears twice (first at gt.json: images[0].id)");
    EXPECT_EQ(gt_error(R"({"images": [], "categories": [{"id": 2}, {"id": 2}],
                           "annotations": []})"),
              "gt.json: categories[1].id: category id 2 appears twice (first at gt.json: "
              "categories[0].id)");
}

TEST(ResultsReader, LeadingBracketMeansCocoArray) {
    const DetectionResults results = parse_results(
        R"(  [{"image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.75}])", "res.json",
        small_dataset());
    EXPECT_EQ(results.format, ResultsFormat::coco_array);
    ASSERT_EQ(results.detections.size(), 1u);
    EXPECT_EQ(results.detections[0].image_id, 2);
    EXPECT_DOUBLE_EQ(results.detections[0].box.height, 4.0);
    EXPECT_DOUBLE_EQ(results.detections[0].score, 0.75);
}

TEST(ResultsReader, AnythingElseIsJsonLines) {
    const DetectionResults results = parse_results(
        "{\"frame\": 1, \"device\": \"end-1\", \"detections\": [{\"bbox\": [1, 2, 3, 4], "
        "\"category_id\": 2, \"score\": 0.5}, {\"bbox\": [0, 0, 9, 9], \"category_id\": 1, "
        "\"score\": 0.25}]}\r\n"
        "\n"
        "{\"frame\": 2, \"label\": 4}\n"
        "{\"frame\": 2, \"detections\": []}\n"
        "{\"frame\": 1, \"detections\": [{\"bbox\": [5, 5, 1, 1], \"category_id\": 1, "
        "\"score\": 1}]}",
        "res.jsonl", small_dataset());
    EXPECT_EQ(results.format, ResultsFormat::json_lines);
    EXPECT_EQ(results.result_lines, 3u);
    EXPECT_EQ(results.skipped_lines, 1u);
    EXPECT_EQ(results.repeated_frames, 1u); // frame 1 on lines 1 and 5: all detections count
    ASSERT_EQ(results.detections.size(), 3u);
    EXPECT_EQ(results.detections[0].image_id, 1);
    EXPECT_EQ(results.detections[0].category_id, 2);
    EXPECT_EQ(results.detections[2].image_id, 1);
    EXPECT_DOUBLE_EQ(results.detections[2].score, 1.0);
}

TEST(ResultsReader, EmptyFileHasNoDetections) {
    const DetectionResults results = parse_results(" \n", "res.jsonl", small_dataset());
    EXPECT_EQ(results.format, ResultsFormat::json_lines);
    EXPECT_TRUE(results.detections.empty());
    EXPECT_EQ(parse_results("[]", "res.json", small_dataset()).detections.size(), 0u);
}

TEST(ResultsReader, CocoArrayErrorsNameTheEntry) {
    EXPECT_EQ(results_error(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                                 "score": 0.5},
                                {"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1],
                                 "score": 0.5}])",
                            "res.json"),
              "res.json: [1].image_id: image 9 is not an image of the ground truth");
    EXPECT_EQ(
        results_error(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])", "res.json"),
        "res.json: [0]: missing \"score\"");
    EXPECT_EQ(results_error(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                                 "score": "high"}])",
                            "res.json"),
              "res.json: [0].score: expected a number, got a string");
    EXPECT_EQ(results_error("[1, 2]", "res.json"),
              "res.json: [0]: expected an object, got an integer");
    EXPECT_THAT(results_error("[{\"image_id\": 1,", "res.json"),
                StartsWith("res.json: not valid JSON: "));
}

TEST(ResultsReader, JsonLinesErrorsNameFileAndLine) {
    const std::string good =
        "{\"frame\": 1, \"detections\": [{\"bbox\": [0, 0, 1, 1], \"category_id\": 1, "
        "\"score\": 0.5}]}\n";
    EXPECT_THAT(results_error(good + good + "{\"frame\": 2, \"detections\": [\n", "res.jsonl"),
                AllOf(StartsWith("res.jsonl:3: not valid JSON: "),
                      HasSubstr("one complete object per line")));
    EXPECT_EQ(results_error(good + "{\"frame\": 9, \"detections\": []}\n", "res.jsonl"),
              "res.jsonl:2: frame: frame 9 is not an image of the ground truth");
    EXPECT_EQ(results_error("{\"detections\": []}\n", "res.jsonl"),
              "res.jsonl:1: missing \"frame\"");
    EXPECT_EQ(results_error("{\"frame\": 1, \"detections\": {}}\n", "res.jsonl"),
              "res.jsonl:1: detections: expected an array, got an object");
    EXPECT_EQ(results_error("{\"frame\": 1, \"detections\": [{\"bbox\": [0, 0, 1, 1], "
                            "\"category_id\": 1, \"score\": 0.5}, {\"bbox\": [0, 0, 1, 1], "
                            "\"category_id\": \"shirt\", \"score\": 0.5}]}\n",
                            "res.jsonl"),
              "res.jsonl:1: detections[1].category_id: expected an integer, got a string");
    EXPECT_EQ(results_error(good + "\n42\n", "res.jsonl"),
              "res.jsonl:3: expected a JSON object (a result document) on the line");
}

TEST(ReadTextFile, MissingFileIsAnInputError) {
    EXPECT_THAT(error_of([] { read_text_file("/nonexistent/tierd-eval/gt.json"); }),
                AllOf(StartsWith("cannot read /nonexistent/tierd-eval/gt.json: "),
                      HasSubstr("No such file")));
    EXPECT_THAT(error_of([] { read_text_file("/"); }), HasSubstr("it is a directory"));
}

} // namespace
} // namespace tierd::eval
