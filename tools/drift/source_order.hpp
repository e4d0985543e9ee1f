// Which source image each output image shows: the source, shuffled by a seeded
// permutation, read front to back across all segments; when every source image was used
// once, a fresh permutation (the next "epoch") follows. So no image repeats until the
// source is exhausted, and the order of the first N outputs does not depend on how many
// follow (a plan's prefix gives the same images as the shorter plan).
#pragma once

#include <cstdint>
#include <vector>

namespace tierd::drift {

// The source index (0..source_count-1) of each of `total` output images. Epoch e is a
// Fisher-Yates shuffle drawn from derive_seed(order_seed, e). source_count >= 1.
std::vector<uint32_t> draw_source_order(uint32_t source_count, uint64_t total, uint64_t order_seed);

} // namespace tierd::drift
