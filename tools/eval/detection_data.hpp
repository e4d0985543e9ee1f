// What an object-detection evaluation compares: ground-truth objects of a COCO dataset and
// the detections a detector reported for the same images. Plain values; the readers
// (ground_truth_reader.hpp, results_reader.hpp) fill them from files and the evaluator
// (coco_evaluator.hpp) reads them.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tierd::eval {

// An axis-aligned box in pixels, COCO's [x, y, width, height]: (x, y) is the top-left
// corner; width and height are >= 0 (the readers reject negative ones).
struct Box {
    double x = 0;
    double y = 0;
    double width = 0;
    double height = 0;
};

inline double box_area(const Box &box) {
    return box.width * box.height;
}

struct Category {
    std::int64_t id = 0;
    std::string name; // empty when the dataset gives none
};

struct GroundTruthObject {
    std::int64_t image_id = 0;
    std::int64_t category_id = 0;
    Box box;
    // The annotation's "area" (COCO: the segmentation's area in pixels², which is what the
    // small/medium/large ranges test); box_area(box) where the file gives none.
    double area_px2 = 0;
    // A crowd region ("iscrowd": 1): any number of detections may land on it, and those
    // count neither as true nor as false positives.
    bool is_crowd = false;
};

// A COCO dataset as far as detection evaluation needs it. Image and category ids are
// unique; every object names an image and a category of the lists (the reader checks).
struct GroundTruth {
    std::vector<std::int64_t> image_ids;    // in file order
    std::vector<Category> categories;       // in file order
    std::vector<GroundTruthObject> objects; // in file order
};

struct Detection {
    std::int64_t image_id = 0;
    std::int64_t category_id = 0;
    Box box;
    double score = 0; // higher = more confident; only the order matters
};

// Malformed or inconsistent input. The message already says where (file, and a JSON
// path or a line number) and what, ready to print.
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace tierd::eval
