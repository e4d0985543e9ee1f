// Sprite masks: an item's own shape (holes filled), scaled with integer arithmetic.
#include "tools/video/sprite_raster.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tierd::videogen {
namespace {

// A 28x28 ring: bright border of a 12x12 square (rows/cols 8..19), dark inside.
std::vector<uint8_t> ring() {
    std::vector<uint8_t> p(kFashionSide * kFashionSide, 0);
    for (int y = 8; y < 20; ++y)
        for (int x = 8; x < 20; ++x)
            if (y == 8 || y == 19 || x == 8 || x == 19)
                p[y * kFashionSide + x] = 200;
    return p;
}

TEST(SpriteRaster, ItemMaskFillsEnclosedHoles) {
    const auto pixels = ring();
    const auto mask = item_mask(pixels.data());
    int inside = 0;
    for (int i = 0; i < kFashionSide * kFashionSide; ++i)
        inside += mask[i] == 255 ? 1 : 0;
    EXPECT_EQ(inside, 12 * 12) << "the dark centre belongs to the item";
    EXPECT_EQ(mask[0], 0);
    EXPECT_EQ(mask[14 * kFashionSide + 14], 255);
}

TEST(SpriteRaster, MaskScalesWithTheSquareOfTheSize) {
    const auto pixels = ring();
    const auto mask = item_mask(pixels.data());
    for (int size : {16, 28, 56, 128}) {
        const SpriteRaster sprite = rasterize_sprite(pixels.data(), mask, size);
        ASSERT_EQ(sprite.size, size);
        const double expected = 144.0 * size * size / (28.0 * 28.0);
        EXPECT_NEAR(sprite.mask_pixels, expected, expected * 0.15 + 4) << "size " << size;
        // The square sits in the middle: the centre is in the mask, the corners are not.
        EXPECT_TRUE(sprite.in_mask(size / 2, size / 2)) << size;
        EXPECT_FALSE(sprite.in_mask(0, 0)) << size;
        EXPECT_FALSE(sprite.in_mask(size - 1, size - 1)) << size;
    }
}

TEST(SpriteRaster, NativeSizeKeepsEveryPixel) {
    const auto pixels = ring();
    const auto mask = item_mask(pixels.data());
    const SpriteRaster sprite = rasterize_sprite(pixels.data(), mask, kFashionSide);
    for (int i = 0; i < kFashionSide * kFashionSide; ++i) {
        EXPECT_EQ(sprite.shade[i], pixels[i]) << i;
        EXPECT_EQ(sprite.alpha[i], mask[i]) << i;
    }
}

} // namespace
} // namespace tierd::videogen
