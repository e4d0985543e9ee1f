// source-video: frames of a video file or a camera through cv::VideoCapture (OpenCV
// videoio and the back ends Debian builds it with: FFmpeg, GStreamer, V4L2). `path` is a
// file, a URL the back end takes, or a camera index ("0"). Opened in create(); next()
// reads one frame per call (worker thread; a camera blocks until its next frame).
#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include "bounded_decode.hpp"

#include <opencv2/videoio.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

namespace {

class SourceVideo {
  public:
    static constexpr const char *name = "source-video";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "frames of a video file or a camera (OpenCV videoio)";
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_string("path", "", "video file, URL, or camera index ([source] path)"),
    };

    SourceVideo(tierd::Host, const tierd::Config &config) : path_(config.get_string("path")) {
        const bool camera = !path_.empty() && std::all_of(path_.begin(), path_.end(), [](char c) {
            return c >= '0' && c <= '9';
        });
        const bool opened = camera ? capture_.open(std::stoi(path_)) : capture_.open(path_);
        if (!opened || !capture_.isOpened())
            throw tierd::Error(
                TIERD_EIO, path_ + (camera ? ": cannot open camera" : ": cannot open the video"));
        name_ = camera ? "camera" + path_ : std::filesystem::path(path_).filename().string();
        description_ = "video:" + path_;
    }

    int next(tierd_frame &out) {
        cv::Mat frame;
        if (!capture_.read(frame) || frame.empty())
            return TIERD_EOF;
        if (const char *why =
                tierd::set_frame_mat(out, tierd::image_codec::to_8bit_gray_or_bgr(frame)))
            throw tierd::Error(TIERD_EIO, path_ + ": " + why);
        tierd::copy_string(out.id, name_ + "#" + std::to_string(frame_));
        // ABI 1.4: the frame's position makes its tasks a stream (in-order fusion, key
        // frames); a source that leaves it at the host's -1 makes plain tasks.
        out.frame_index = static_cast<int64_t>(frame_++);
        return TIERD_OK;
    }

    void release(tierd_frame &frame) { tierd::release_frame_mat(frame); }

    const char *describe() const { return description_.c_str(); }

  private:
    std::string path_, name_, description_;
    cv::VideoCapture capture_;
    uint64_t frame_ = 0;
};

} // namespace

TIERD_PLUGIN(SourceVideo, TIERD_KIND_SOURCE)
