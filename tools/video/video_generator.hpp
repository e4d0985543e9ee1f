// tierd-videogen's work: one synthetic video with its COCO ground truth, deterministic per
// seed (docs/video.md states what exactly is promised).
#pragma once

#include "tools/video/fashion_items.hpp"

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace tierd::videogen {

// The generator's version, written into gt.json. Bump it whenever the same seed and options
// would give other frames or ground truth.
constexpr int kGeneratorVersion = 1;

struct VideoOptions {
    uint64_t seed = 0;
    int frames = 0;
    std::filesystem::path out_dir;
    int width = 640, height = 360;
    double fps = 25;
    Split split = Split::test;
    std::string codec = "mjpg";
    int min_objects = 2, max_objects = 8;
    std::filesystem::path fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
    std::filesystem::path backgrounds_dir = "/usr/share/doc/opencv-doc/examples/data";
    // Testing aids: draw no objects (gt.json is unchanged: it describes where they would
    // be), and write each frame's object labels as out_dir/labels/<frame>.png.
    bool background_only = false;
    bool write_labels = false;
};

// A bad option value (exit status 2 in the CLI).
class UsageError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct GenerationSummary {
    std::filesystem::path video_path, gt_path;
    int frames = 0;
    std::size_t annotations = 0;
    int tracks = 0;
    std::string background;
};

// Checks the options (UsageError), then writes the video and gt.json into out_dir (created
// if missing). Throws std::runtime_error naming the file for missing inputs and unwritable
// outputs.
void check_options(const VideoOptions &options);
GenerationSummary generate_video(const VideoOptions &options);

} // namespace tierd::videogen
