// source-topic: the device's input topic (tierd/v1/dev/<id>/input) as a source. The host
// subscribes and hands each message to decode() on a worker; this plugin turns PNG, JPEG,
// BMP, PNM or WebP bytes into a frame, and refuses an image whose header states more
// pixels than the host's bound before any decoder allocates for it. (Offload-format
// "TDI1" messages on the same topic are raw pixels; the host reads those itself.)
//
// decode() keeps no state, so any number of calls may run at once.
#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include "bounded_decode.hpp"

namespace {

class SourceTopic {
  public:
    static constexpr const char *name = "source-topic";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "images published on the device's input topic (PNG, JPEG, BMP, PNM, WebP)";
    static constexpr uint32_t max_concurrent_calls = 64;

    SourceTopic(tierd::Host, const tierd::Config &) {}

    int decode(const uint8_t *payload, size_t size, uint64_t max_pixels, tierd_frame &out) {
        using tierd::image_codec::DecodeStatus;
        auto decoded = tierd::image_codec::decode_bounded(payload, size, max_pixels);
        if (decoded.status == DecodeStatus::too_large)
            throw tierd::Error(TIERD_ERANGE, decoded.why);
        if (decoded.status != DecodeStatus::ok)
            throw tierd::Error(TIERD_EINVAL, decoded.why);
        if (const char *why = tierd::set_frame_mat(out, decoded.image))
            throw tierd::Error(TIERD_EINVAL, why);
        return TIERD_OK;
    }

    void release(tierd_frame &frame) { tierd::release_frame_mat(frame); }
};

} // namespace

TIERD_PLUGIN(SourceTopic, TIERD_KIND_SOURCE)
