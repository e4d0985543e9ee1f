// The moving objects of one video: Fashion-MNIST items that live in background (world)
// coordinates, move with constant acceleration, grow or shrink slowly, enter the view from
// its edges, leave it, and are replaced. Only integer draws and IEEE +, -, * decide where
// an object is, so the ground truth is the same on every machine.
#pragma once

#include "tools/video/fashion_items.hpp"
#include "tools/video/seeded_random.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace tierd::videogen {

constexpr int kMinSpritePx = 16;
constexpr int kMaxSpritePx = 128;

struct SceneObject {
    int track_id = 0;
    FashionItem item;
    std::vector<uint8_t> item_mask; // 28x28, see item_mask()
    std::array<uint8_t, 3> tint_bgr{};
    double z = 0;          // drawing order: higher is nearer the camera
    double x = 0, y = 0;   // centre, background pixels
    double vx = 0, vy = 0; // px/frame
    double ax = 0, ay = 0; // px/frame^2
    double size_px = 0;    // side of the (square) sprite, kMinSpritePx..kMaxSpritePx
    double growth = 0;     // relative size change per frame
    int first_frame = 0;
    int frames_out_of_view = 0;

    int side_px() const;             // size_px rounded, as drawn
    int left_px(int camera_x) const; // top-left of the sprite in view pixels
    int top_px(int camera_y) const;
};

struct SceneLimits {
    int view_width = 640, view_height = 360;
    int min_objects = 2, max_objects = 8; // in view, roughly: see ObjectScene::advance
};

class ObjectScene {
  public:
    ObjectScene(const FashionItems &items, uint64_t seed, SceneLimits limits);

    // Places the first objects inside the first frame's view.
    void start(int camera_x, int camera_y);
    // Moves everything one frame on, to the view at (camera_x, camera_y) that moved by
    // (camera_dx, camera_dy) since the last frame: drops objects that left, adds new ones
    // entering from an edge while fewer than min_objects are in view (and at random
    // while fewer than max_objects are).
    void advance(int frame, int camera_x, int camera_y, int camera_dx, int camera_dy);

    // The objects of the current frame, in drawing order (far to near).
    const std::vector<SceneObject> &objects() const { return objects_; }
    // Every object ever created, with the frame of its first appearance (for the GT's info).
    int tracks_created() const { return next_track_id_; }

  private:
    SceneObject make_object(int frame);
    void enter_from_edge(int frame, int camera_x, int camera_y, int camera_dx, int camera_dy);
    bool in_view(const SceneObject &o, int camera_x, int camera_y) const;
    void sort_by_depth();

    const FashionItems &items_;
    SeededRandom random_;
    SceneLimits limits_;
    double spawn_chance_ = 0; // per frame, per seed
    int next_track_id_ = 0;
    std::vector<SceneObject> objects_;
};

} // namespace tierd::videogen
