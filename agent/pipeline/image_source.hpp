// Where an end agent's images come from: an IDX file (Fashion-MNIST's format, gzipped or
// raw), a directory of image files, or a video file / camera through cv::VideoCapture.
// A source is used by one thread at a time; next() may block (file and device reads), so
// the pipeline calls it on a worker.
#pragma once

#include "agent/config/config.hpp"

#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace tierd {

struct SourceImage {
    std::string id; // unique within the source: "t10k-images-idx3-ubyte.gz#17", a file name
    cv::Mat image;  // CV_8UC1 (gray) or CV_8UC3 (BGR)
    int label = -1; // the true class when the source knows it, else -1
};

class ImageSource {
  public:
    virtual ~ImageSource() = default;
    // The next image, or nullopt at the end. Throws std::runtime_error on a read error
    // (a truncated file, a camera that went away), with a message naming the source.
    virtual std::optional<SourceImage> next() = 0;
    // "idx:/path (10000 images, labelled)": for logs and status.
    virtual std::string describe() const = 0;
};

// Opens the source `config` names. Throws std::runtime_error naming the file and what is
// wrong (missing, not IDX, labels of another length, no images, cannot open the camera).
// `config.kind` must not be none.
std::unique_ptr<ImageSource> open_image_source(const SourceConfig &config);

// One message of the input topic (source.kind = "topic"): encoded image bytes (PNG, JPEG,
// BMP, PBM/PGM/PPM or WebP, through cv::imdecode; other formats are refused) or an
// offload request ("TDI1", its task_id becomes the id; input#<seq> otherwise). The image comes back
// 8-bit gray or BGR; nullopt when the payload is neither (the pipeline counts it as undecodable).
// Pure; any thread; never throws.
std::optional<SourceImage> decode_input_image(const std::string &payload, std::uint64_t seq);

} // namespace tierd
