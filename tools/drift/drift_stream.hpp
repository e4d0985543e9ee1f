// The generator: the images of a plan, one after the other, each a source image (chosen by
// source_order.hpp) under its segment's shifts. Everything random comes from the seed:
// image i's shifts draw from their own stream, derive_seed(derive_seed(seed, 2), i), so an
// image depends only on (seed, i, its segment, its source image), never on the images
// before it or on global state.
#pragma once

#include "tools/drift/shift_plan.hpp"
#include "tools/drift/source_images.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace tierd::drift {

// The independent random streams of one seed (derive_seed's `stream`).
constexpr uint64_t kOrderStream = 1; // which source image each output shows
constexpr uint64_t kImageStream = 2; // the per-image draws of the shifts

// One output image as the generator hands it over (the pointer is valid during the call).
struct DriftedImage {
    uint64_t index = 0;              // position in the output stream
    std::size_t segment = 0;         // index into the plan
    uint32_t source_index = 0;       // the image of the source it was made from
    uint8_t label = 0;               // that image's label (a shift never changes the class)
    const uint8_t *pixels = nullptr; // rows * cols bytes, row-major
};

// Generates every image of `plan` from `source` and hands each to `sink`, in order.
// Returns the source index of every output image. Throws what the shifts throw.
std::vector<uint32_t> generate_drift(const SourceImages &source, const std::vector<Segment> &plan,
                                     uint64_t seed,
                                     const std::function<void(const DriftedImage &)> &sink);

} // namespace tierd::drift
