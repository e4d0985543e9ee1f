// Decoding untrusted encoded images within a pixel bound, for the source plugins: the
// header is read first (image_header.hpp) and an image over the bound never reaches a
// decoder. What comes out is 8-bit gray or BGR, the two forms the pipeline feeds its
// plugins.
#pragma once

#include "image_header.hpp"

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace tierd::image_codec {

enum class DecodeStatus {
    ok,
    too_large,    // the header states more than max_pixels pixels; nothing was decoded
    undecodable,  // not one of the five formats, a malformed header, or the decoder failed
};

struct Decoded {
    DecodeStatus status = DecodeStatus::undecodable;
    cv::Mat image;   // CV_8UC1 or CV_8UC3 when ok
    std::string why; // a reason for the log and the source's error when not ok
};

// max_pixels = 0: no bound. Any thread; never throws.
Decoded decode_bounded(const std::uint8_t *data, std::size_t size, std::uint64_t max_pixels);

// 16-bit images scaled to 8 bits, float ones clamped, 4 channels to 3 (alpha dropped);
// gray and BGR pass unchanged.
cv::Mat to_8bit_gray_or_bgr(const cv::Mat &image);

} // namespace tierd::image_codec
