/*
 * tierd/plugin_opencv.hpp — an optional header-only helper for plugins that use OpenCV:
 * the task's image as a cv::Mat. Include it only in a plugin that links OpenCV; plugin.h
 * and plugin.hpp do not depend on OpenCV.
 */
#ifndef TIERD_PLUGIN_OPENCV_HPP
#define TIERD_PLUGIN_OPENCV_HPP

#include <tierd/plugin.h>

#include <opencv2/core.hpp>

namespace tierd {

/* Points `view` at the image's pixels without copying: CV_8UC1 for GRAY8, CV_8UC3 for
 * BGR8 and RGB8 (channel order as in image->format). The pixels are borrowed from the
 * host for the duration of the callback that received the task: never write through the
 * view, and clone() what you keep. Returns NULL when the image is usable, else a static
 * reason: "task has no image", "unknown pixel format" or "stride_bytes smaller than a
 * row". Any thread; does not block. */
inline const char *image_view(const tierd_image *image, cv::Mat &view) {
    if (image == nullptr || image->data == nullptr || image->width <= 0 || image->height <= 0)
        return "task has no image";
    int channels = 0;
    switch (image->format) {
    case TIERD_PIXEL_GRAY8: channels = 1; break;
    case TIERD_PIXEL_BGR8:
    case TIERD_PIXEL_RGB8: channels = 3; break;
    default: return "unknown pixel format";
    }
    if (image->stride_bytes < image->width * channels)
        return "stride_bytes smaller than a row";
    // cv::Mat has no const-data constructor; the view is read-only by contract.
    view = cv::Mat(image->height, image->width, CV_8UC(channels),
                   const_cast<uint8_t *>(image->data), static_cast<size_t>(image->stride_bytes));
    return nullptr;
}

/* Sources (ABI 1.3): gives `out` the image `image` (CV_8UC1 -> GRAY8, CV_8UC3 -> BGR8)
 * without copying: a heap cv::Mat header shares its pixels and is kept in out.owner
 * until release_frame_mat(). Returns NULL, or a static reason when the Mat is not 8-bit
 * with 1 or 3 channels. */
inline const char *set_frame_mat(tierd_frame &out, const cv::Mat &image) {
    if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3))
        return "the frame is not an 8-bit gray or BGR image";
    auto *owned = new cv::Mat(image);
    out.owner = owned;
    out.image.struct_size = sizeof(tierd_image);
    out.image.format = image.channels() == 1 ? TIERD_PIXEL_GRAY8 : TIERD_PIXEL_BGR8;
    out.image.width = image.cols;
    out.image.height = image.rows;
    out.image.stride_bytes = static_cast<int32_t>(image.step[0]);
    out.image.data = image.data;
    return nullptr;
}
/* Frees what set_frame_mat() attached to `frame`. Any thread; does not block. */
inline void release_frame_mat(tierd_frame &frame) noexcept {
    delete static_cast<cv::Mat *>(frame.owner);
    frame.owner = nullptr;
    frame.image.data = nullptr;
}

} // namespace tierd

#endif /* TIERD_PLUGIN_OPENCV_HPP */
