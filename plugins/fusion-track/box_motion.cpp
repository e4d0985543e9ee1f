#include "plugins/fusion-track/box_motion.hpp"

#include <algorithm>
#include <cmath>

namespace fusion_track {

namespace {

// The share of a box's width and height, centred, whose points count as the object's own.
constexpr float kCentralFraction = 0.7f;

float median_of(std::vector<float> &values) {
    const std::size_t n = values.size();
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n / 2),
                     values.end());
    const float upper = values[n / 2];
    if (n % 2 == 1)
        return upper;
    const float lower =
        *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n / 2));
    return 0.5f * (lower + upper);
}

bool inside(const Point &p, float x0, float y0, float x1, float y1) {
    return p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1;
}

// Indices of the pairs whose start lies in the box shrunk to `fraction` of its size.
std::vector<std::size_t> pairs_in(const Box &box, const MotionStep &step, float fraction) {
    const float mx = 0.5f * (1.0f - fraction) * box.width;
    const float my = 0.5f * (1.0f - fraction) * box.height;
    const float x0 = box.x + mx, y0 = box.y + my;
    const float x1 = box.x + box.width - mx, y1 = box.y + box.height - my;
    std::vector<std::size_t> picked;
    for (std::size_t i = 0; i < step.from.size(); ++i)
        if (inside(step.from[i], x0, y0, x1, y1))
            picked.push_back(i);
    return picked;
}

// The size ratio after/before of the points' spread around their median: robust to a few
// wrong pairs, and 1 when the points hardly spread.
float spread_ratio(const MotionStep &step, const std::vector<std::size_t> &picked) {
    std::vector<float> fx, fy, tx, ty;
    for (std::size_t i : picked) {
        fx.push_back(step.from[i].x);
        fy.push_back(step.from[i].y);
        tx.push_back(step.to[i].x);
        ty.push_back(step.to[i].y);
    }
    const Point cf{median_of(fx), median_of(fy)};
    const Point ct{median_of(tx), median_of(ty)};
    std::vector<float> before, after;
    for (std::size_t i : picked) {
        before.push_back(std::hypot(step.from[i].x - cf.x, step.from[i].y - cf.y));
        after.push_back(std::hypot(step.to[i].x - ct.x, step.to[i].y - ct.y));
    }
    const float b = median_of(before);
    const float a = median_of(after);
    return b > 2.0f ? a / b : 1.0f;
}

} // namespace

float box_area(const Box &box) {
    return box.width > 0 && box.height > 0 ? box.width * box.height : 0.0f;
}

float box_iou(const Box &a, const Box &b) {
    const float ix = std::min(a.x + a.width, b.x + b.width) - std::max(a.x, b.x);
    const float iy = std::min(a.y + a.height, b.y + b.height) - std::max(a.y, b.y);
    if (ix <= 0 || iy <= 0)
        return 0.0f;
    const float intersection = ix * iy;
    const float united = box_area(a) + box_area(b) - intersection;
    return united > 0 ? intersection / united : 0.0f;
}

Box clip_box(const Box &box, float width, float height) {
    const float x0 = std::clamp(box.x, 0.0f, width);
    const float y0 = std::clamp(box.y, 0.0f, height);
    const float x1 = std::clamp(box.x + box.width, 0.0f, width);
    const float y1 = std::clamp(box.y + box.height, 0.0f, height);
    return Box{x0, y0, std::max(0.0f, x1 - x0), std::max(0.0f, y1 - y0)};
}

BoxMove move_box(const Box &box, const MotionStep &step, const BoxMotionOptions &options) {
    std::vector<std::size_t> picked = pairs_in(box, step, kCentralFraction);
    if (static_cast<int>(picked.size()) < kMinMovePoints)
        picked = pairs_in(box, step, 1.0f);
    BoxMove moved{box, 0};
    if (static_cast<int>(picked.size()) < kMinMovePoints) {
        moved.box.x += step.global_shift.x;
        moved.box.y += step.global_shift.y;
        return moved;
    }
    std::vector<float> dx, dy;
    dx.reserve(picked.size());
    dy.reserve(picked.size());
    for (std::size_t i : picked) {
        dx.push_back(step.to[i].x - step.from[i].x);
        dy.push_back(step.to[i].y - step.from[i].y);
    }
    const float shift_x = median_of(dx);
    const float shift_y = median_of(dy);
    float scale = 1.0f;
    if (options.estimate_scale && static_cast<int>(picked.size()) >= kMinScalePoints)
        scale = std::clamp(spread_ratio(step, picked), 1.0f - options.max_scale_change,
                           1.0f + options.max_scale_change);
    const float cx = box.x + 0.5f * box.width + shift_x;
    const float cy = box.y + 0.5f * box.height + shift_y;
    moved.box.width = box.width * scale;
    moved.box.height = box.height * scale;
    moved.box.x = cx - 0.5f * moved.box.width;
    moved.box.y = cy - 0.5f * moved.box.height;
    moved.support = static_cast<int>(picked.size());
    return moved;
}

BoxMove follow_box(const Box &box, const MotionStep &step, const BoxMotionOptions &options,
                   Point &velocity) {
    const auto frames = static_cast<float>(std::max<int64_t>(1, step.to_frame - step.from_frame));
    BoxMove moved = move_box(box, step, options);
    if (moved.support == 0) {
        moved.box = box;
        moved.box.x += velocity.x * frames;
        moved.box.y += velocity.y * frames;
        return moved;
    }
    const float vx = (moved.box.x + 0.5f * moved.box.width - box.x - 0.5f * box.width) / frames;
    const float vy = (moved.box.y + 0.5f * moved.box.height - box.y - 0.5f * box.height) / frames;
    velocity.x = 0.5f * (velocity.x + vx);
    velocity.y = 0.5f * (velocity.y + vy);
    return moved;
}

} // namespace fusion_track
