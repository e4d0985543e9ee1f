#include "agent/pipeline/image_source.hpp"

#include <tierd/idx.hpp>

namespace tierd {

std::vector<cv::Mat> read_idx_images(const std::string &path, std::size_t count) {
    idx::ImageReader images(path);
    std::vector<cv::Mat> out;
    while (out.size() < count && !images.at_end()) {
        cv::Mat image(images.rows(), images.cols(), CV_8UC1);
        images.next(image.data);
        out.push_back(std::move(image));
    }
    return out;
}

} // namespace tierd
