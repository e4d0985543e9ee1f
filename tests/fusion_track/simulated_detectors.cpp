#include "simulated_detectors.hpp"

#include <random>

namespace fusion_test {

namespace {

// Uniform in [0, 1) from one 64-bit draw (53 bits, as IEEE doubles hold).
double unit(std::mt19937_64 &rng) {
    return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

double between(std::mt19937_64 &rng, double lo, double hi) {
    return lo + (hi - lo) * unit(rng);
}

tierd_detection detection_of(const tierd::eval::Box &b, int64_t category_id, double score) {
    return tierd_detection{static_cast<float>(b.x),
                           static_cast<float>(b.y),
                           static_cast<float>(b.width),
                           static_cast<float>(b.height),
                           static_cast<int32_t>(category_id - 1),
                           static_cast<float>(score),
                           -1,
                           0u};
}

} // namespace

FrameBoxes heavy_detector(const tierd::eval::GroundTruth &truth) {
    FrameBoxes frames;
    for (int64_t id : truth.image_ids)
        frames[id];
    for (const auto &object : truth.objects)
        frames[object.image_id].push_back(detection_of(object.box, object.category_id, 0.95));
    return frames;
}

FrameBoxes light_detector(const tierd::eval::GroundTruth &truth, double keep, double jitter,
                          uint64_t seed) {
    std::mt19937_64 rng(seed);
    FrameBoxes frames;
    for (int64_t id : truth.image_ids)
        frames[id];
    for (const auto &object : truth.objects) {
        const double kept = unit(rng);
        const double cx = object.box.x + object.box.width * (0.5 + between(rng, -jitter, jitter));
        const double cy = object.box.y + object.box.height * (0.5 + between(rng, -jitter, jitter));
        const double w = object.box.width * (1.0 + between(rng, -jitter, jitter));
        const double h = object.box.height * (1.0 + between(rng, -jitter, jitter));
        const double score = between(rng, 0.4, 0.8);
        if (kept >= keep)
            continue;
        frames[object.image_id].push_back(detection_of(
            tierd::eval::Box{cx - w / 2, cy - h / 2, w, h}, object.category_id, score));
    }
    return frames;
}

void append_detections(std::vector<tierd::eval::Detection> &out, int64_t frame,
                       const std::vector<tierd_detection> &boxes) {
    for (const tierd_detection &d : boxes)
        out.push_back(tierd::eval::Detection{
            frame, d.class_id + 1, tierd::eval::Box{d.x, d.y, d.width, d.height}, d.score});
}

tierd::eval::GroundTruth frames_of(const tierd::eval::GroundTruth &truth, int64_t first,
                                   int64_t last) {
    tierd::eval::GroundTruth subset;
    subset.categories = truth.categories;
    for (int64_t id : truth.image_ids)
        if (id >= first && id <= last)
            subset.image_ids.push_back(id);
    for (const auto &object : truth.objects)
        if (object.image_id >= first && object.image_id <= last)
            subset.objects.push_back(object);
    return subset;
}

} // namespace fusion_test
