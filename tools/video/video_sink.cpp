#include "tools/video/video_sink.hpp"

#include <array>
#include <stdexcept>

namespace tierd::videogen {

namespace {

const std::array<VideoCodec, 4> kCodecs = {{
    {"mjpg", "video.avi", cv::VideoWriter::fourcc('M', 'J', 'P', 'G')},
    {"ffv1", "video.avi", cv::VideoWriter::fourcc('F', 'F', 'V', '1')},
    {"mp4v", "video.mp4", cv::VideoWriter::fourcc('m', 'p', '4', 'v')},
    {"avc1", "video.mp4", cv::VideoWriter::fourcc('a', 'v', 'c', '1')},
}};

} // namespace

std::span<const VideoCodec> video_codecs() {
    return kCodecs;
}

const VideoCodec *find_video_codec(const std::string &name) {
    for (const VideoCodec &codec : kCodecs)
        if (name == codec.name)
            return &codec;
    return nullptr;
}

VideoSink::VideoSink(const std::filesystem::path &path, const VideoCodec &codec, double fps,
                     cv::Size size) {
    if (!writer_.open(path.string(), cv::CAP_FFMPEG, codec.fourcc, fps, size))
        throw std::runtime_error(path.string() + ": cannot open for writing with codec " +
                                 codec.name +
                                 " (is the folder writable, and does this OpenCV have its "
                                 "ffmpeg backend with that codec?)");
}

void VideoSink::write(const cv::Mat &frame) {
    writer_.write(frame);
}

void VideoSink::close() {
    writer_.release();
}

} // namespace tierd::videogen
