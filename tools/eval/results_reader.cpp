#include "tools/eval/results_reader.hpp"

#include "tools/eval/json_place.hpp"

#include <unordered_map>
#include <unordered_set>

namespace tierd::eval {

namespace {

constexpr std::string_view kWhiteSpace = " \t\r\n";

// A detection's box, category and score; `image_id` is filled in by the caller.
Detection detection_value(const nlohmann::json &entry, const JsonPlace &place) {
    Detection detection;
    detection.category_id =
        integer_value(required_field(entry, "category_id", place), place.field("category_id"));
    detection.box = box_value(required_field(entry, "bbox", place), place.field("bbox"));
    detection.score = finite_number(required_field(entry, "score", place), place.field("score"));
    return detection;
}

void check_image(const std::unordered_set<std::int64_t> &known, std::int64_t image_id,
                 const JsonPlace &place, std::string_view what) {
    if (!known.contains(image_id))
        place.fail(std::string(what) + " " + std::to_string(image_id) +
                   " is not an image of the ground truth");
}

void parse_coco_array(std::string_view text, const std::string &source,
                      const std::unordered_set<std::int64_t> &known, DetectionResults &results) {
    const JsonPlace root(source);
    const nlohmann::json document = parse_json(text, root);
    expect_array(document, root);
    results.detections.reserve(document.size());
    for (std::size_t i = 0; i < document.size(); ++i) {
        const JsonPlace place = root.element(i);
        const std::int64_t image_id =
            integer_value(required_field(document[i], "image_id", place), place.field("image_id"));
        check_image(known, image_id, place.field("image_id"), "image");
        Detection detection = detection_value(document[i], place);
        detection.image_id = image_id;
        results.detections.push_back(detection);
    }
}

void parse_json_lines(std::string_view text, const std::string &source,
                      const std::unordered_set<std::int64_t> &known, DetectionResults &results) {
    std::unordered_map<std::int64_t, std::size_t> lines_of_frame;
    std::size_t line_number = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        ++line_number;
        if (line.find_first_not_of(kWhiteSpace) == std::string_view::npos)
            continue;

        const JsonPlace place(source + ":" + std::to_string(line_number));
        // The usual cause of a bad line: a pretty-printed object spans lines, and a COCO
        // results file is recognized only when it starts with '['.
        const nlohmann::json document =
            parse_json(line, place,
                       "JSON Lines need one complete object per line; a COCO results file is "
                       "an array starting with '['");
        if (!document.is_object())
            place.fail("expected a JSON object (a result document) on the line");
        const auto detections = document.find("detections");
        if (detections == document.end()) {
            ++results.skipped_lines;
            continue;
        }
        ++results.result_lines;
        const std::int64_t frame =
            integer_value(required_field(document, "frame", place), place.field("frame"));
        check_image(known, frame, place.field("frame"), "frame");
        if (++lines_of_frame[frame] == 2)
            ++results.repeated_frames;

        const JsonPlace detections_place = place.field("detections");
        expect_array(*detections, detections_place);
        for (std::size_t i = 0; i < detections->size(); ++i) {
            Detection detection = detection_value((*detections)[i], detections_place.element(i));
            detection.image_id = frame;
            results.detections.push_back(detection);
        }
    }
}

} // namespace

std::string_view results_format_name(ResultsFormat format) {
    return format == ResultsFormat::coco_array ? "coco-array" : "jsonl";
}

DetectionResults parse_results(std::string_view text, const std::string &source,
                               const GroundTruth &truth) {
    const std::unordered_set<std::int64_t> known(truth.image_ids.begin(), truth.image_ids.end());
    DetectionResults results;
    const std::size_t first = text.find_first_not_of(kWhiteSpace);
    results.format = first != std::string_view::npos && text[first] == '['
                         ? ResultsFormat::coco_array
                         : ResultsFormat::json_lines;
    if (results.format == ResultsFormat::coco_array)
        parse_coco_array(text, source, known, results);
    else
        parse_json_lines(text, source, known, results);
    return results;
}

DetectionResults read_results(const std::string &path, const GroundTruth &truth) {
    return parse_results(read_text_file(path), path, truth);
}

} // namespace tierd::eval
