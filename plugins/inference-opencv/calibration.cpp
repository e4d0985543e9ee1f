#include "calibration.hpp"

#include <tierd/idx.hpp>

#include <stdexcept>

namespace inference_opencv {

std::vector<cv::Mat> read_idx_images(const std::string &path, int count) {
    tierd::idx::ImageReader images(path);
    // Calibration images are small (Fashion-MNIST's are 28x28); a header that says
    // otherwise is a wrong file, not a reason to allocate.
    if (images.rows() > 4096 || images.cols() > 4096)
        throw std::runtime_error(path + ": implausible image size");
    std::vector<cv::Mat> out;
    while (static_cast<int>(out.size()) < count && !images.at_end()) {
        cv::Mat img(images.rows(), images.cols(), CV_8UC1);
        images.next(img.data);
        out.push_back(img);
    }
    return out;
}

} // namespace inference_opencv
