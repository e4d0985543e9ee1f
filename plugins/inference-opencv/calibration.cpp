#include "calibration.hpp"

#include <zlib.h>

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace inference_opencv {

std::vector<cv::Mat> read_idx_images(const std::string &path, int count) {
    std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
    if (!file)
        throw std::runtime_error(path + ": cannot open");
    auto read = [&](void *out, unsigned n) {
        if (gzread(file.get(), out, n) != static_cast<int>(n))
            throw std::runtime_error(path + ": truncated");
    };
    std::array<unsigned char, 16> h{};
    read(h.data(), h.size());
    auto be32 = [&](int at) {
        return (uint32_t{h[at]} << 24) | (uint32_t{h[at + 1]} << 16) | (uint32_t{h[at + 2]} << 8) |
               h[at + 3];
    };
    if (h[0] != 0 || h[1] != 0 || h[2] != 0x08 || h[3] != 3)
        throw std::runtime_error(path + ": not an IDX file of unsigned-byte images");
    const uint32_t n = be32(4), rows = be32(8), cols = be32(12);
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
        throw std::runtime_error(path + ": implausible image size");
    std::vector<cv::Mat> out;
    for (uint32_t i = 0; i < n && static_cast<int>(out.size()) < count; ++i) {
        cv::Mat img(static_cast<int>(rows), static_cast<int>(cols), CV_8UC1);
        read(img.data, rows * cols);
        out.push_back(img);
    }
    return out;
}

} // namespace inference_opencv
