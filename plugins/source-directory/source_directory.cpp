// source-directory: the image files of one directory (png, jpg, jpeg, bmp, pgm, ppm, tif,
// tiff), in name order, each decoded to 8-bit gray or BGR. The listing is made once, in
// create(); next() decodes one file per call (worker thread).
#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include "bounded_decode.hpp"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

namespace {

class SourceDirectory {
  public:
    static constexpr const char *name = "source-directory";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description = "the image files of a directory, in name order";
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_string("path", "", "the directory ([source] path)"),
    };

    SourceDirectory(tierd::Host, const tierd::Config &config) : path_(config.get_string("path")) {
        std::error_code ec;
        if (path_.empty() || !std::filesystem::is_directory(path_, ec))
            throw tierd::Error(TIERD_ENOENT, path_ + ": not a directory");
        static const std::array<std::string, 8> exts = {".png", ".jpg", ".jpeg", ".bmp",
                                                        ".pgm", ".ppm", ".tif",  ".tiff"};
        for (const auto &entry : std::filesystem::directory_iterator(path_, ec)) {
            std::string ext = entry.path().extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (entry.is_regular_file() && std::find(exts.begin(), exts.end(), ext) != exts.end())
                files_.push_back(entry.path().string());
        }
        std::sort(files_.begin(), files_.end());
        if (files_.empty())
            throw tierd::Error(TIERD_ENOENT,
                               path_ + ": no image files (png, jpg, bmp, pgm, ppm, tif)");
        description_ =
            "directory:" + path_ + " (" + std::to_string(files_.size()) + " images)";
    }

    int next(tierd_frame &out) {
        if (index_ >= files_.size())
            return TIERD_EOF;
        const std::string &file = files_[index_++];
        cv::Mat img = cv::imread(file, cv::IMREAD_UNCHANGED);
        if (img.empty())
            throw tierd::Error(TIERD_EIO, file + ": cannot decode the image");
        if (const char *why =
                tierd::set_frame_mat(out, tierd::image_codec::to_8bit_gray_or_bgr(img)))
            throw tierd::Error(TIERD_EIO, file + ": " + why);
        tierd::copy_string(out.id, std::filesystem::path(file).filename().string());
        return TIERD_OK;
    }

    void release(tierd_frame &frame) { tierd::release_frame_mat(frame); }

    const char *describe() const { return description_.c_str(); }

  private:
    std::string path_, description_;
    std::vector<std::string> files_;
    std::size_t index_ = 0;
};

} // namespace

TIERD_PLUGIN(SourceDirectory, TIERD_KIND_SOURCE)
