// Reading the first images of an IDX file (Fashion-MNIST's format, gzipped or raw) for the
// `profile` command. (The pipeline's own images come from source plugins.)
#pragma once

#include <opencv2/core.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace tierd {

// Up to `count` CV_8UC1 images. Throws std::runtime_error naming the file when it is
// missing, not IDX images, or truncated.
std::vector<cv::Mat> read_idx_images(const std::string &path, std::size_t count);

} // namespace tierd
