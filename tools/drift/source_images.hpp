// The labelled images the drift is made from (Fashion-MNIST's test split by default), read
// whole into memory through the SDK's IDX reader (tierd/idx.hpp): 10,000 28x28 images are
// 7.8 MB.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tierd::drift {

struct SourceImages {
    std::string images_path, labels_path;
    int rows = 0, cols = 0;
    uint32_t count = 0;
    std::vector<uint8_t> pixels; // count * rows * cols, image after image, row-major
    std::vector<uint8_t> labels; // count

    const uint8_t *image(uint32_t index) const {
        return pixels.data() + std::size_t{index} * static_cast<std::size_t>(rows * cols);
    }
};

// Reads an IDX images file and its IDX labels file (gzipped or raw). Throws
// tierd::idx::Error, whose what() names the file and the problem.
SourceImages read_source_images(const std::string &images_path, const std::string &labels_path);

} // namespace tierd::drift
