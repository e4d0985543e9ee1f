#include "tools/video/video_sink.hpp"

#include <array>
#include <stdexcept>
#include <string>

namespace tierd::videogen {

namespace {

const std::array<VideoCodec, 4> kCodecs = {{
    {"mjpg", "video.avi", cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), true},
    {"ffv1", "video.avi", cv::CAP_FFMPEG, cv::VideoWriter::fourcc('F', 'F', 'V', '1'), false},
    {"mp4v", "video.mp4", cv::CAP_FFMPEG, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), false},
    {"avc1", "video.mp4", cv::CAP_FFMPEG, cv::VideoWriter::fourcc('a', 'v', 'c', '1'), false},
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
                     cv::Size size, int quality) {
    if (!writer_.open(path.string(), codec.api, codec.fourcc, fps, size))
        throw std::runtime_error(path.string() + ": cannot open for writing with codec " +
                                 codec.name +
                                 " (is the folder writable, and does this OpenCV "
                                 "have the codec's backend?)");
    // OpenCV 4.6's own MJPEG writer ignores the quality among open()'s parameters; set() works.
    if (codec.has_quality && !writer_.set(cv::VIDEOWRITER_PROP_QUALITY, quality))
        throw std::runtime_error(path.string() + ": the " + codec.name +
                                 " writer refuses quality " + std::to_string(quality));
}

void VideoSink::write(const cv::Mat &frame) {
    writer_.write(frame);
}

void VideoSink::close() {
    writer_.release();
}

} // namespace tierd::videogen
