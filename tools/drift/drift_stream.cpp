#include "tools/drift/drift_stream.hpp"

#include "tools/drift/image_shifts.hpp"
#include "tools/drift/source_order.hpp"

#include <opencv2/core.hpp>

#include <stdexcept>

namespace tierd::drift {

std::vector<uint32_t> generate_drift(const SourceImages &source, const std::vector<Segment> &plan,
                                     uint64_t seed,
                                     const std::function<void(const DriftedImage &)> &sink) {
    const uint64_t total = total_images(plan);
    std::vector<uint32_t> order =
        draw_source_order(source.count, total, derive_seed(seed, kOrderStream));
    const uint64_t image_seed = derive_seed(seed, kImageStream);
    uint64_t index = 0;
    for (std::size_t s = 0; s < plan.size(); ++s) {
        const Segment &segment = plan[s];
        for (uint32_t k = 0; k < segment.count; ++k, ++index) {
            DriftedImage out;
            out.index = index;
            out.segment = s;
            out.source_index = order[index];
            out.label = source.labels[out.source_index];
            // A copy: the shifts work in place and may replace the buffer.
            cv::Mat image = cv::Mat(source.rows, source.cols, CV_8UC1,
                                    const_cast<uint8_t *>(source.image(out.source_index)))
                                .clone();
            SeededRandom random(derive_seed(image_seed, index));
            apply_shifts(segment.shifts, segment.severity, image, random);
            if (image.rows != source.rows || image.cols != source.cols || !image.isContinuous())
                throw std::logic_error("a shift changed the image's size");
            out.pixels = image.ptr<uint8_t>(0);
            sink(out);
        }
    }
    return order;
}

} // namespace tierd::drift
