// Images from an IDX file (gzipped or raw, e.g. Fashion-MNIST's train-images-idx3-ubyte.gz)
// as cv::Mat: int8 calibration and adaptation's clean source images (read once in
// create()), and the adaptation tool and tests.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace inference_opencv {

// Up to `count` CV_8UC1 images. Throws std::runtime_error naming the file on a missing,
// non-IDX or truncated file.
std::vector<cv::Mat> read_idx_images(const std::string &path, int count);

} // namespace inference_opencv
