// A Fashion-MNIST item drawn at a given size: its shade (intensity) and its alpha, both
// size x size. The object's mask — what the ground truth counts as the object — is the
// pixels with alpha >= kMaskAlpha. Both come from integer arithmetic only (fixed-point
// bilinear scaling), so masks, boxes and areas are the same on every machine.
#pragma once

#include "tools/video/fashion_items.hpp"

#include <cstdint>
#include <vector>

namespace tierd::videogen {

// A source pixel belongs to the item when its intensity is at least this, or when it is
// enclosed by such pixels (holes filled: dark prints inside a shirt are still the shirt).
constexpr uint8_t kItemIntensity = 12;
// A drawn pixel belongs to the object's mask when its alpha is at least this (of 255).
constexpr uint8_t kMaskAlpha = 128;

struct SpriteRaster {
    int size = 0;               // pixels per side
    std::vector<uint8_t> shade; // size*size, row-major: the item's intensity, 0..255
    std::vector<uint8_t> alpha; // size*size: coverage, 0..255 (mask: >= kMaskAlpha)
    int mask_pixels = 0;        // pixels with alpha >= kMaskAlpha

    bool in_mask(int x, int y) const { return alpha[std::size_t(y) * size + x] >= kMaskAlpha; }
};

// The 28x28 item's own mask: intensity >= kItemIntensity, holes filled. 255 or 0 per pixel.
std::vector<uint8_t> item_mask(const uint8_t *pixels);

// The item scaled to size x size (size >= 1) by bilinear interpolation with pixel centres
// aligned, in 8-bit fixed point.
SpriteRaster rasterize_sprite(const uint8_t *pixels, const std::vector<uint8_t> &mask, int size);

} // namespace tierd::videogen
