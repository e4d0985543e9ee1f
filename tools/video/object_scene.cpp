#include "tools/video/object_scene.hpp"

#include "tools/video/sprite_raster.hpp"

#include <algorithm>
#include <cmath>

namespace tierd::videogen {

namespace {

constexpr double kMaxSpeed = 6.0;         // px/frame, per axis
constexpr double kMaxAcceleration = 0.04; // px/frame^2, per axis
constexpr double kMaxGrowth = 0.004;      // relative size change per frame
constexpr int kMaxFramesOutOfView = 40;   // then an object that lingers outside is dropped
constexpr int kEnteringFrames = 60;       // a new object counts as present this long

int floor_to_int(double v) {
    return static_cast<int>(std::floor(v));
}

} // namespace

int SceneObject::side_px() const {
    return floor_to_int(size_px + 0.5);
}
int SceneObject::left_px(int camera_x) const {
    return floor_to_int(x - camera_x - side_px() / 2.0);
}
int SceneObject::top_px(int camera_y) const {
    return floor_to_int(y - camera_y - side_px() / 2.0);
}

ObjectScene::ObjectScene(const FashionItems &items, uint64_t seed, SceneLimits limits)
    : items_(items), random_(seed), limits_(limits) {
    spawn_chance_ = random_.uniform(0.02, 0.06);
}

SceneObject ObjectScene::make_object(int frame) {
    SceneObject o;
    o.track_id = next_track_id_++;
    o.first_frame = frame;
    o.item = items_.pick(random_);
    o.item_mask = item_mask(o.item.pixels);
    // Saturated colours: one channel bright, the others anywhere.
    const auto bright = static_cast<size_t>(random_.uniform_int(0, 2));
    for (size_t c = 0; c < 3; ++c)
        o.tint_bgr[c] = static_cast<uint8_t>(c == bright ? random_.uniform_int(180, 255)
                                                         : random_.uniform_int(30, 255));
    o.z = random_.uniform01();
    // Small objects are more common (as in street scenes): size = 16 + 112 * u^2.
    const double u = random_.uniform01();
    o.size_px = kMinSpritePx + (kMaxSpritePx - kMinSpritePx) * u * u;
    o.growth = random_.symmetric(kMaxGrowth);
    o.ax = random_.symmetric(kMaxAcceleration);
    o.ay = random_.symmetric(kMaxAcceleration);
    return o;
}

void ObjectScene::start(int camera_x, int camera_y) {
    const int count = static_cast<int>(random_.uniform_int(
        limits_.min_objects, std::min(limits_.max_objects, limits_.min_objects + 3)));
    for (int i = 0; i < count; ++i) {
        SceneObject o = make_object(0);
        const double half = o.size_px / 2;
        o.x = camera_x + random_.uniform(half, std::max(half, limits_.view_width - half));
        o.y = camera_y + random_.uniform(half, std::max(half, limits_.view_height - half));
        o.vx = random_.symmetric(2.5);
        o.vy = random_.symmetric(2.5);
        objects_.push_back(std::move(o));
    }
    sort_by_depth();
}

void ObjectScene::enter_from_edge(int frame, int camera_x, int camera_y, int camera_dx,
                                  int camera_dy) {
    SceneObject o = make_object(frame);
    const double w = limits_.view_width, h = limits_.view_height, half = o.size_px / 2;
    // An edge with probability proportional to its length; the object starts just outside
    // it, moving inwards relative to the camera.
    const double along = random_.uniform(0, 2 * (w + h));
    const double inward = random_.uniform(0.7, 4.0), sideways = random_.symmetric(1.5);
    if (along < w) { // top
        o.x = camera_x + along, o.y = camera_y - half + 1;
        o.vx = sideways, o.vy = inward;
    } else if (along < 2 * w) { // bottom
        o.x = camera_x + (along - w), o.y = camera_y + h + half - 1;
        o.vx = sideways, o.vy = -inward;
    } else if (along < 2 * w + h) { // left
        o.x = camera_x - half + 1, o.y = camera_y + (along - 2 * w);
        o.vx = inward, o.vy = sideways;
    } else { // right
        o.x = camera_x + w + half - 1, o.y = camera_y + (along - 2 * w - h);
        o.vx = -inward, o.vy = sideways;
    }
    o.vx += camera_dx;
    o.vy += camera_dy;
    objects_.push_back(std::move(o));
}

bool ObjectScene::in_view(const SceneObject &o, int camera_x, int camera_y) const {
    const int left = o.left_px(camera_x), top = o.top_px(camera_y), side = o.side_px();
    return left + side > 0 && top + side > 0 && left < limits_.view_width &&
           top < limits_.view_height;
}

void ObjectScene::advance(int frame, int camera_x, int camera_y, int camera_dx, int camera_dy) {
    for (SceneObject &o : objects_) {
        o.vx = std::clamp(o.vx + o.ax, -kMaxSpeed, kMaxSpeed);
        o.vy = std::clamp(o.vy + o.ay, -kMaxSpeed, kMaxSpeed);
        o.x += o.vx;
        o.y += o.vy;
        const double grown = o.size_px * (1 + o.growth);
        if (grown < kMinSpritePx || grown > kMaxSpritePx)
            o.growth = -o.growth; // it turns around at the size limits
        else
            o.size_px = grown;
    }

    // Leaving: out of view and moving away from it (relative to the camera), or out of view
    // for too long.
    const double w = limits_.view_width, h = limits_.view_height;
    std::erase_if(objects_, [&](SceneObject &o) {
        if (in_view(o, camera_x, camera_y)) {
            o.frames_out_of_view = 0;
            return false;
        }
        const double sx = o.x - camera_x, sy = o.y - camera_y;
        const double rvx = o.vx - camera_dx, rvy = o.vy - camera_dy;
        const bool away = (sx < 0 && rvx <= 0) || (sx > w && rvx >= 0) || (sy < 0 && rvy <= 0) ||
                          (sy > h && rvy >= 0);
        return away || ++o.frames_out_of_view > kMaxFramesOutOfView;
    });

    // Objects count towards min_objects while their centre is in view, or while they are
    // still entering (in view, younger than kEnteringFrames); so leaving objects are
    // replaced before they are gone, and one entering object is not doubled. Objects
    // lingering outside the view count towards max_objects only; twice max_objects bounds
    // them all.
    int present = 0;
    for (const SceneObject &o : objects_) {
        const double sx = o.x - camera_x, sy = o.y - camera_y;
        const bool centred = sx >= 0 && sy >= 0 && sx < w && sy < h;
        const bool entering =
            frame - o.first_frame < kEnteringFrames && in_view(o, camera_x, camera_y);
        present += centred || entering ? 1 : 0;
    }
    const int alive = static_cast<int>(objects_.size());
    const bool need = present < limits_.min_objects && alive < 2 * limits_.max_objects;
    const bool room = alive < limits_.max_objects;
    if (need || (room && random_.chance(spawn_chance_)))
        enter_from_edge(frame, camera_x, camera_y, camera_dx, camera_dy);
    sort_by_depth();
}

void ObjectScene::sort_by_depth() {
    std::sort(objects_.begin(), objects_.end(), [](const SceneObject &a, const SceneObject &b) {
        return a.z != b.z ? a.z < b.z : a.track_id < b.track_id;
    });
}

} // namespace tierd::videogen
