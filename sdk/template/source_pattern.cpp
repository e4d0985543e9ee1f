// source-pattern: a tierd source plugin (plugin ABI 1.3). It makes `frames` synthetic
// test frames — a diagonal gradient whose phase moves one step per frame, gray or BGR —
// so a pipeline can be tried without a camera. A real source (V4L2, GStreamer, RTSP)
// has the same shape: open the device in the constructor, return one frame per next().
//
// `[source] kind = "pattern"` makes the agent load this plugin (kind "x" = "source-x");
// its own keys live in [plugin.source-pattern].
//
// next() runs on a worker thread and may block (a camera waits for its next frame);
// release() may run on any thread, also while next() runs.
#include <tierd/plugin.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace {

class SourcePattern {
  public:
    // The name must equal the file name without ".so": tierd_add_plugin(source-pattern).
    static constexpr const char *name = "source-pattern";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description = "synthetic moving-gradient test frames";

    static constexpr const char *const formats[] = {"gray", "bgr", nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_int("frames", "100", 1, 1e9, "how many frames, then the stream ends"),
        tierd::key_int("width", "28", 1, 8192, "frame width in pixels"),
        tierd::key_int("height", "28", 1, 8192, "frame height in pixels"),
        tierd::key_enum("format", "gray", formats, "gray (1 byte per pixel) or bgr (3)"),
    };

    // create(): worker thread, may block (open the device here). The Config is valid only
    // here: keep copies.
    SourcePattern(tierd::Host, const tierd::Config &config)
        : frames_(config.get_int("frames")), width_(static_cast<int>(config.get_int("width"))),
          height_(static_cast<int>(config.get_int("height"))),
          bgr_(config.get_string("format") == "bgr") {
        description_ = "pattern: " + std::to_string(frames_) + " frames " +
                       std::to_string(width_) + "x" + std::to_string(height_) +
                       (bgr_ ? " bgr" : " gray");
    }

    // next(): the next frame, or TIERD_EOF at the end. The pixels are handed to the host,
    // which gives them back through release() when the task is done with them.
    int next(tierd_frame &out) {
        if (index_ >= frames_)
            return TIERD_EOF;
        const int channels = bgr_ ? 3 : 1;
        std::vector<uint8_t> pixels(static_cast<size_t>(width_) * height_ * channels);
        for (int y = 0; y < height_; ++y)
            for (int x = 0; x < width_; ++x)
                for (int c = 0; c < channels; ++c)
                    pixels[(static_cast<size_t>(y) * width_ + x) * channels + c] =
                        static_cast<uint8_t>((x + y + index_ * 3 + c * 40) * 4);
        tierd::set_frame_pixels(out, std::move(pixels), width_, height_,
                                bgr_ ? TIERD_PIXEL_BGR8 : TIERD_PIXEL_GRAY8);
        tierd::copy_string(out.id, "pattern#" + std::to_string(index_));
        ++index_;
        return TIERD_OK;
    }

    // release(): any thread, must not block.
    void release(tierd_frame &frame) { tierd::release_frame_pixels(frame); }

    // One line for the agent's log and status.
    const char *describe() const { return description_.c_str(); }

  private:
    int64_t frames_;
    int width_, height_;
    bool bgr_;
    int64_t index_ = 0;
    std::string description_;
};

} // namespace

TIERD_PLUGIN(SourcePattern, TIERD_KIND_SOURCE)
