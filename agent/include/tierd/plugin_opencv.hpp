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

} // namespace tierd

#endif /* TIERD_PLUGIN_OPENCV_HPP */
