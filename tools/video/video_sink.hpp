// Where the frames go: one video file through OpenCV's videoio, by codec name.
//   mjpg  Motion JPEG in AVI by OpenCV's own encoder (no ffmpeg needed to write; every
//         OpenCV backend reads it back). The default; --quality applies.
//   ffv1  FFV1 in AVI through ffmpeg: lossless, about 10x larger.
//   mp4v  MPEG-4 part 2 in MP4 through ffmpeg.
//   avc1  H.264 in MP4 through ffmpeg (libx264).
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include <filesystem>
#include <span>
#include <string>

namespace tierd::videogen {

struct VideoCodec {
    const char *name;
    const char *file_name; // inside the output folder
    int api;               // cv::VideoCaptureAPIs of the writer
    int fourcc;
    bool has_quality; // whether the writer takes VIDEOWRITER_PROP_QUALITY
};

std::span<const VideoCodec> video_codecs();
// The codec called `name`, or nullptr.
const VideoCodec *find_video_codec(const std::string &name);

class VideoSink {
  public:
    // Opens `path` for frames of `size` at `fps`. Throws std::runtime_error naming the file
    // when OpenCV cannot open it (unwritable folder, codec missing from this OpenCV).
    VideoSink(const std::filesystem::path &path, const VideoCodec &codec, double fps, cv::Size size,
              int quality);
    // Appends a CV_8UC3 frame of the opened size.
    void write(const cv::Mat &frame);
    // Flushes and closes the file (also done by the destructor).
    void close();

  private:
    cv::VideoWriter writer_;
};

} // namespace tierd::videogen
