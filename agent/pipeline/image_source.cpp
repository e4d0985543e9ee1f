#include "agent/pipeline/image_source.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace tierd {
namespace {

// An IDX file read through zlib, which reads gzipped and plain files alike.
class IdxFile {
  public:
    explicit IdxFile(const std::string &path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
        if (file_ == nullptr)
            throw std::runtime_error(path + ": cannot open");
    }
    ~IdxFile() {
        if (file_ != nullptr)
            gzclose(file_);
    }
    IdxFile(const IdxFile &) = delete;
    IdxFile &operator=(const IdxFile &) = delete;

    // Big-endian header: 0, 0, type (0x08 = unsigned byte), dimension count; then the
    // dimensions. Returns the dimensions.
    std::vector<uint32_t> header() {
        std::array<unsigned char, 4> magic{};
        read(magic.data(), magic.size(), "header");
        if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4)
            throw std::runtime_error(path_ + ": not an IDX file of unsigned bytes");
        std::vector<uint32_t> dims(magic[3]);
        for (auto &d : dims) {
            std::array<unsigned char, 4> b{};
            read(b.data(), b.size(), "header");
            d = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
        }
        return dims;
    }

    void read(void *out, std::size_t n, const char *what) {
        int got = gzread(file_, out, static_cast<unsigned>(n));
        if (got != static_cast<int>(n))
            throw std::runtime_error(path_ + ": truncated (" + what + ")");
    }

  private:
    std::string path_;
    gzFile file_;
};

} // namespace

std::vector<cv::Mat> read_idx_images(const std::string &path, std::size_t count) {
    IdxFile images(path);
    auto dims = images.header();
    if (dims.size() != 3 || dims[0] == 0 || dims[1] == 0 || dims[2] == 0)
        throw std::runtime_error(path + ": expected IDX images (count x rows x columns)");
    std::vector<cv::Mat> out;
    for (std::size_t i = 0; i < count && i < dims[0]; ++i) {
        cv::Mat image(static_cast<int>(dims[1]), static_cast<int>(dims[2]), CV_8UC1);
        images.read(image.data, image.total(), "image data");
        out.push_back(std::move(image));
    }
    return out;
}

} // namespace tierd
