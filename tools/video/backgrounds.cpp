#include "tools/video/backgrounds.hpp"

#include <opencv2/imgcodecs.hpp>
#include <zlib.h>

#include <array>
#include <stdexcept>
#include <vector>

namespace tierd::videogen {

namespace {

// Photographs only (no charts, logos, text or calibration boards), each at least 493x356.
constexpr std::array<const char *, 8> kTrainBackgrounds = {
    "building.jpg", "aero1.jpg",        "graf1.png",  "fruits.jpg",
    "board.jpg",    "rubberwhale1.png", "baboon.jpg", "starry_night.jpg"};
constexpr std::array<const char *, 8> kTestBackgrounds = {
    "leuvenA.jpg",      "aero3.jpg", "home.jpg",      "stuff.jpg",
    "squirrel_cls.jpg", "aloeL.jpg", "butterfly.jpg", "messi5.jpg"};

// The whole file through zlib, which reads gzip and plain files alike.
std::vector<uchar> read_file(const std::string &path) {
    gzFile file = gzopen(path.c_str(), "rb");
    if (file == nullptr)
        return {};
    std::vector<uchar> bytes;
    std::array<uchar, 1 << 16> chunk;
    int got = 0;
    while ((got = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0)
        bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + got);
    const bool failed = got < 0;
    gzclose(file);
    if (failed)
        throw std::runtime_error(path + ": cannot read (corrupt gzip data?)");
    return bytes;
}

} // namespace

std::span<const char *const> background_names(Split split) {
    if (split == Split::train)
        return kTrainBackgrounds;
    return kTestBackgrounds;
}

cv::Mat load_background(const std::filesystem::path &dir, const std::string &name) {
    const std::string plain = (dir / name).string();
    std::string path = plain;
    std::vector<uchar> bytes = read_file(path);
    if (bytes.empty()) {
        path = plain + ".gz";
        bytes = read_file(path);
    }
    if (bytes.empty())
        throw std::runtime_error(plain + ": background image missing (it comes with Debian's "
                                         "opencv-doc package: apt-get install opencv-doc; or "
                                         "pass --backgrounds DIR)");
    cv::Mat image = cv::imdecode(bytes, cv::IMREAD_COLOR);
    if (image.empty())
        throw std::runtime_error(path + ": not an image OpenCV can decode");
    return image;
}

} // namespace tierd::videogen
