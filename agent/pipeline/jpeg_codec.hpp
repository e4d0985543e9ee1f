// JPEG for frames that travel between tiers (docs/mqtt.md, "Offload": format "jpeg"):
// libjpeg-turbo's libjpeg API, the one small library the agent takes for it (OpenCV's
// imgcodecs would bring GDAL, poppler and the rest back into the daemon; issue 14).
// Pure functions; any thread; each call is independent (no shared state).
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <string_view>

namespace tierd {

// Encodes an 8-bit gray (CV_8UC1) or BGR (CV_8UC3) image at `quality` (1..100, clamped).
// Throws std::invalid_argument for another type, std::runtime_error when libjpeg fails.
std::string encode_jpeg(const cv::Mat &image, int quality);

// Reads the size and colour of a JPEG from its header only (no pixels are decoded, no
// image-sized allocation). False and `error` for what is not a JPEG libjpeg can read.
bool read_jpeg_header(std::string_view jpeg, int &width, int &height, int &channels,
                      std::string &error);

// Decodes a JPEG to CV_8UC1 (gray JPEG) or CV_8UC3 BGR, refusing (false, `error`) before
// it allocates when the header's size is not `width` x `height` — the size the sender
// declared and the receiver checked against its limits — or when the data is corrupt.
bool decode_jpeg(std::string_view jpeg, int width, int height, cv::Mat &out, std::string &error);

} // namespace tierd
