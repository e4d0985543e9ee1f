// Where the frames go: one video file through OpenCV's ffmpeg backend, by codec name.
//   mjpg  Motion JPEG in AVI, the default: every frame a JPEG of its own.
//   ffv1  FFV1 in AVI: lossless, about 9x larger than mjpg (107 vs 12 MB, 300 frames).
//   mp4v  MPEG-4 part 2 in MP4.
//   avc1  H.264 in MP4 (libx264).
// Not OpenCV's own MJPEG writer (CAP_OPENCV_MJPEG): in OpenCV 4.6 it mis-writes the last
// bits of some frames (opencv/opencv#24171, fixed in 4.9), which libjpeg reports as "Corrupt
// JPEG data: premature end of data segment" (7 of 300 frames in one video here). OpenCV
// 4.6's ffmpeg writer takes no quality setting: its MJPEG came out at 34.6 dB PSNR, 41 KB a
// 640x360 frame, about what libjpeg gives at quality 75-80.
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
    int fourcc;
};

std::span<const VideoCodec> video_codecs();
// The codec called `name`, or nullptr.
const VideoCodec *find_video_codec(const std::string &name);

class VideoSink {
  public:
    // Opens `path` for frames of `size` at `fps`. Throws std::runtime_error naming the file
    // when OpenCV cannot open it (unwritable folder, no ffmpeg backend or codec).
    VideoSink(const std::filesystem::path &path, const VideoCodec &codec, double fps,
              cv::Size size);
    // Appends a CV_8UC3 frame of the opened size.
    void write(const cv::Mat &frame);
    // Flushes and closes the file (also done by the destructor).
    void close();

  private:
    cv::VideoWriter writer_;
};

} // namespace tierd::videogen
