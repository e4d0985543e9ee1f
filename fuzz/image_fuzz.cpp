// libFuzzer harness: one message of an end agent's input topic (docs/mqtt.md: encoded
// image bytes, PNG/JPEG/BMP/PGM... through OpenCV, or an offload request "TDI1"), as
// decode_input_image turns it into the pipeline's image.
// Properties: never a crash or UB (in tierd's code; OpenCV's codecs are not
// instrumented, so this finds what tierd does with what they return); a decoded image
// is 8-bit gray or BGR and not empty, as the plugins are promised.
#include "agent/pipeline/image_source.hpp"

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
    const std::string payload(reinterpret_cast<const char *>(data), size);
    auto image = tierd::decode_input_image(payload, 7);
    if (image) {
        const int type = image->image.type();
        if (image->image.empty() || (type != CV_8UC1 && type != CV_8UC3) || image->id.empty())
            std::abort();
    }
    return 0;
}
