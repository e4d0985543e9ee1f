#include "bounded_decode.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace tierd::image_codec {

cv::Mat to_8bit_gray_or_bgr(const cv::Mat &image) {
    cv::Mat eight = image;
    if (image.depth() != CV_8U)
        image.convertTo(eight, CV_8U, image.depth() == CV_16U ? 1.0 / 257.0 : 1.0);
    if (eight.channels() == 4) {
        cv::Mat bgr;
        cv::cvtColor(eight, bgr, cv::COLOR_BGRA2BGR);
        return bgr;
    }
    if (eight.channels() == 2) { // gray + alpha
        cv::Mat planes[2];
        cv::split(eight, planes);
        return planes[0];
    }
    return eight;
}

Decoded decode_bounded(const std::uint8_t *data, std::size_t size, std::uint64_t max_pixels) {
    Decoded out;
    const auto header = read_image_header(data, size, out.why);
    if (!header)
        return out;
    if (max_pixels > 0 && header->pixels() > max_pixels) {
        out.status = DecodeStatus::too_large;
        out.why = std::string(format_name(header->format)) + " of " +
                  std::to_string(header->width) + "x" + std::to_string(header->height) + " = " +
                  std::to_string(header->pixels()) + " pixels, over the limit of " +
                  std::to_string(max_pixels) + " (limits.max_pixels)";
        return out;
    }
    if (size > static_cast<std::size_t>(INT32_MAX)) {
        out.why = "the encoded image is larger than 2 GiB";
        return out;
    }
    try {
        // imdecode reads the buffer and never writes it: the const_cast is only for cv::Mat.
        const cv::Mat bytes(1, static_cast<int>(size), CV_8UC1, const_cast<std::uint8_t *>(data));
        cv::Mat image = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
        if (image.empty()) {
            out.why = std::string("the ") + format_name(header->format) +
                      " decoder could not read the image";
            return out;
        }
        // A decoder that disagrees with the header it was checked by (it should not).
        if (max_pixels > 0 && static_cast<std::uint64_t>(image.total()) > max_pixels) {
            out.status = DecodeStatus::too_large;
            out.why = "decoded to more pixels than the header stated";
            return out;
        }
        out.image = to_8bit_gray_or_bgr(image);
        out.status = DecodeStatus::ok;
    } catch (const cv::Exception &e) {
        out.why = std::string("the ") + format_name(header->format) + " decoder failed: " + e.what();
    }
    return out;
}

} // namespace tierd::image_codec
