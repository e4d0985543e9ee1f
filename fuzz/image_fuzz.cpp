// libFuzzer harness: one message of an end agent's input topic (docs/mqtt.md), as the
// source-topic plugin decodes it (plugins/image-codec: the header's size first, checked
// against limits.max_pixels, then OpenCV's decoder for PNG/JPEG/BMP/PNM/WebP only).
// ("TDI1" messages are the host's offload codec, fuzzed by fuzz_offload.)
// Properties: never a crash or UB (in tierd's code; OpenCV's codecs are not
// instrumented, so this finds what tierd does with what they return); an image refused
// as too_large has a header that states more than the bound; a decoded image is 8-bit
// gray or BGR, not empty, within the bound and the size its header stated.
#include "bounded_decode.hpp"
#include "image_header.hpp"

#include <opencv2/core/utility.hpp>
#include <opencv2/core/utils/logger.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static const bool quiet = [] {
        cv::setNumThreads(1); // one fuzzing process per core: no OpenCV thread pool
        // The codecs' complaints about broken files: noise, and slow at 1000s per second.
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
        return true;
    }();
    (void)quiet;
    // A small bound, so that the refusal path is exercised as often as decoding.
    constexpr std::uint64_t kMaxPixels = 4096;
    using namespace tierd::image_codec;
    std::string why;
    const auto header = read_image_header(data, size, why);
    const Decoded decoded = decode_bounded(data, size, kMaxPixels);
    switch (decoded.status) {
    case DecodeStatus::too_large:
        // Refused from its header (or a decoder that disagreed with it): never decoded.
        if (!header || (header->pixels() <= kMaxPixels && decoded.why.find("header") ==
                                                              std::string::npos))
            std::abort();
        break;
    case DecodeStatus::ok: {
        const int type = decoded.image.type();
        if (!header || decoded.image.empty() || (type != CV_8UC1 && type != CV_8UC3) ||
            static_cast<std::uint64_t>(decoded.image.total()) > kMaxPixels)
            std::abort();
        break;
    }
    case DecodeStatus::undecodable:
        if (decoded.why.empty())
            std::abort();
        break;
    }
    return 0;
}
