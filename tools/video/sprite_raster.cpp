#include "tools/video/sprite_raster.hpp"

#include <algorithm>

namespace tierd::videogen {

std::vector<uint8_t> item_mask(const uint8_t *pixels) {
    constexpr int n = kFashionSide;
    // Background = dark pixels reachable from the border through dark pixels; everything
    // else (bright pixels and the dark holes they enclose) is the item.
    std::vector<uint8_t> outside(n * n, 0);
    std::vector<int> stack;
    auto push = [&](int x, int y) {
        const int i = y * n + x;
        if (outside[i] == 0 && pixels[i] < kItemIntensity) {
            outside[i] = 1;
            stack.push_back(i);
        }
    };
    for (int k = 0; k < n; ++k) {
        push(k, 0);
        push(k, n - 1);
        push(0, k);
        push(n - 1, k);
    }
    while (!stack.empty()) {
        const int i = stack.back();
        stack.pop_back();
        const int x = i % n, y = i / n;
        if (x > 0)
            push(x - 1, y);
        if (x < n - 1)
            push(x + 1, y);
        if (y > 0)
            push(x, y - 1);
        if (y < n - 1)
            push(x, y + 1);
    }
    std::vector<uint8_t> mask(n * n);
    for (int i = 0; i < n * n; ++i)
        mask[i] = outside[i] != 0 ? 0 : 255;
    return mask;
}

namespace {

// Where destination pixel `d` of `size` samples the 28-pixel source: index of the left (top)
// neighbour and the weight of the right (bottom) one in 1/256. Source coordinate of the
// pixel centre: (d + 0.5) * 28 / size - 0.5, in fixed point with floor rounding.
struct Tap {
    int i0, i1, w1;
};

Tap tap(int d, int size) {
    const int64_t num = (int64_t{2} * d + 1) * kFashionSide * 256 - int64_t{size} * 256;
    const int64_t den = int64_t{2} * size;
    int64_t pos = num >= 0 ? num / den : -((-num + den - 1) / den); // floor
    if (pos < 0)
        return {0, 0, 0};
    const int i0 = static_cast<int>(pos >> 8);
    if (i0 >= kFashionSide - 1)
        return {kFashionSide - 1, kFashionSide - 1, 0};
    return {i0, i0 + 1, static_cast<int>(pos & 255)};
}

uint8_t sample(const uint8_t *src, const Tap &tx, const Tap &ty) {
    constexpr int n = kFashionSide;
    const int top = src[ty.i0 * n + tx.i0] * (256 - tx.w1) + src[ty.i0 * n + tx.i1] * tx.w1;
    const int bottom = src[ty.i1 * n + tx.i0] * (256 - tx.w1) + src[ty.i1 * n + tx.i1] * tx.w1;
    const int value = top * (256 - ty.w1) + bottom * ty.w1; // 255 * 65536 at most
    return static_cast<uint8_t>((value + 32768) >> 16);
}

} // namespace

SpriteRaster rasterize_sprite(const uint8_t *pixels, const std::vector<uint8_t> &mask, int size) {
    SpriteRaster out;
    out.size = std::max(size, 1);
    const std::size_t area = std::size_t(out.size) * out.size;
    out.shade.resize(area);
    out.alpha.resize(area);
    std::vector<Tap> taps(out.size);
    for (int d = 0; d < out.size; ++d)
        taps[d] = tap(d, out.size);
    for (int y = 0; y < out.size; ++y)
        for (int x = 0; x < out.size; ++x) {
            const std::size_t i = std::size_t(y) * out.size + x;
            out.shade[i] = sample(pixels, taps[x], taps[y]);
            out.alpha[i] = sample(mask.data(), taps[x], taps[y]);
            if (out.alpha[i] >= kMaskAlpha)
                ++out.mask_pixels;
        }
    return out;
}

} // namespace tierd::videogen
