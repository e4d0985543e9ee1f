// An image a task is made of, as the source plugin handed it over (ABI 1.3 tierd_frame):
// the pixels stay the plugin's, without a copy, until the last holder lets go and the
// frame goes back through the plugin's release(). Images decoded by the host itself (the
// offload format "TDI1" on the input topic) own their pixels instead.
#pragma once

#include "agent/plugin_host/plugin_instance.hpp"

#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace tierd {

// One frame on loan from a source plugin. Destroying it hands the frame back (release()
// is any-thread and non-blocking by the ABI). It holds the instance, so the plugin is
// never stopped while one of its frames is in use.
class FrameLease {
  public:
    FrameLease(std::shared_ptr<PluginInstance> source, const tierd_frame &frame)
        : source_(std::move(source)), frame_(frame) {}
    ~FrameLease() { source_->release_frame(frame_); }
    FrameLease(const FrameLease &) = delete;
    FrameLease &operator=(const FrameLease &) = delete;

  private:
    std::shared_ptr<PluginInstance> source_;
    tierd_frame frame_;
};

struct SourceImage {
    std::string id; // unique within the source: "t10k-images-idx3-ubyte.gz#17", a file name
    cv::Mat image;  // CV_8UC1 (gray) or CV_8UC3 (BGR or RGB, as `format` says)
    tierd_pixel_format format = TIERD_PIXEL_GRAY8;
    int label = -1;                    // the true class when the source knows it, else -1
    std::int64_t frame_index = -1;     // position in a video stream (ABI 1.4), else -1
    std::shared_ptr<FrameLease> lease; // the plugin's pixels behind `image`; null = owned

    // The image a source plugin produced: a view of its pixels that keeps the lease.
    static SourceImage from_frame(std::shared_ptr<PluginInstance> source,
                                  const tierd_frame &frame) {
        SourceImage out;
        const tierd_image &img = frame.image;
        const int channels = img.format == TIERD_PIXEL_GRAY8 ? 1 : 3;
        // cv::Mat has no const-data constructor; nothing writes through this view.
        out.image =
            cv::Mat(img.height, img.width, CV_8UC(channels), const_cast<uint8_t *>(img.data),
                    static_cast<std::size_t>(img.stride_bytes));
        out.format = img.format;
        out.id = frame.id;
        out.label = frame.label;
        out.frame_index = frame.frame_index;
        out.lease = std::make_shared<FrameLease>(std::move(source), frame);
        return out;
    }
};

} // namespace tierd
