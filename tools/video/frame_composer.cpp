#include "tools/video/frame_composer.hpp"

#include "tools/video/sprite_raster.hpp"

#include <algorithm>
#include <array>
#include <climits>

namespace tierd::videogen {

namespace {

// Grows a box over pixels one at a time; empty until the first pixel.
struct Extent {
    int x0 = INT_MAX, y0 = INT_MAX, x1 = INT_MIN, y1 = INT_MIN;
    void add(int x, int y) {
        x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
    }
    cv::Rect rect() const {
        return x1 < x0 ? cv::Rect() : cv::Rect(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
    }
};

} // namespace

ComposedFrame compose_frame(const cv::Mat &world, int camera_x, int camera_y, cv::Size view,
                            const std::vector<SceneObject> &objects, bool draw_objects) {
    ComposedFrame out;
    out.image = world(cv::Rect(camera_x, camera_y, view.width, view.height)).clone();
    out.labels = cv::Mat::zeros(view, CV_32S);
    out.objects.resize(objects.size());

    for (size_t i = 0; i < objects.size(); ++i) {
        const SceneObject &o = objects[i];
        const SpriteRaster sprite = rasterize_sprite(o.item.pixels, o.item_mask, o.side_px());
        ObjectVisibility &seen = out.objects[i];
        seen.mask_pixels = sprite.mask_pixels;

        // The item's shade lifted off black (dark prints stay visible), times its tint.
        std::array<std::array<uint8_t, 3>, 256> colour{};
        for (int s = 0; s < 256; ++s)
            for (size_t c = 0; c < 3; ++c)
                colour[s][c] = static_cast<uint8_t>(o.tint_bgr[c] * (64 + 191 * s / 255) / 255);

        const int left = o.left_px(camera_x), top = o.top_px(camera_y);
        const int x0 = std::max(0, left), x1 = std::min(view.width, left + sprite.size);
        const int y0 = std::max(0, top), y1 = std::min(view.height, top + sprite.size);
        Extent in_view;
        const int label = static_cast<int>(i) + 1;
        for (int y = y0; y < y1; ++y) {
            auto *pixel = out.image.ptr<cv::Vec3b>(y);
            auto *labels = out.labels.ptr<int>(y);
            const size_t row = static_cast<size_t>(y - top) * sprite.size;
            for (int x = x0; x < x1; ++x) {
                const size_t at = row + static_cast<size_t>(x - left);
                const int a = sprite.alpha[at];
                if (a == 0)
                    continue;
                if (draw_objects) {
                    const auto &c = colour[sprite.shade[at]];
                    for (int k = 0; k < 3; ++k)
                        pixel[x][k] =
                            static_cast<uint8_t>((pixel[x][k] * (255 - a) + c[k] * a + 127) / 255);
                }
                if (a >= kMaskAlpha) {
                    labels[x] = label;
                    ++seen.in_view_pixels;
                    in_view.add(x, y);
                }
            }
        }
        seen.in_view_box = in_view.rect();
    }

    // What is left of each mask once the nearer objects are drawn.
    std::vector<Extent> visible(objects.size());
    for (int y = 0; y < view.height; ++y) {
        const auto *labels = out.labels.ptr<int>(y);
        for (int x = 0; x < view.width; ++x)
            if (labels[x] != 0) {
                const auto k = static_cast<size_t>(labels[x] - 1);
                ++out.objects[k].visible_pixels;
                visible[k].add(x, y);
            }
    }
    for (size_t k = 0; k < objects.size(); ++k)
        out.objects[k].visible_box = visible[k].rect();
    return out;
}

} // namespace tierd::videogen
