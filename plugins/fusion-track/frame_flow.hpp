// The motion of a stream's boxes, measured with OpenCV's pyramidal Lucas-Kanade optical
// flow on gray (optionally downscaled) copies of the frames: points seeded inside the boxes
// (where the objects are), tracked forwards and back, kept where both directions agree.
// Each box is tracked in its own region of interest (the box plus the distance its object
// can move), so the cost follows the objects' area, not the frame's: image pyramids and
// their derivatives over a whole 640x360 frame cost about 1 ms, most of a frame's budget.
//
// Two uses:
//   advance()  each frame: the motion from the previous frame, for the boxes being tracked;
//   catch_up() when an answer about an earlier key frame arrives: its boxes are tracked
//              through the frames since then (as Glimpse does with its frame cache), with
//              points seeded in those very boxes.
// So FrameFlow keeps the last `cached_frames` frames as (downscaled) gray images: 230 KB
// for a 640x360 frame at scale 1, 11.5 MB for 50 frames (a quarter at scale 0.5); never
// the colour frames. Not thread-safe: one call at a time.
#pragma once

#include "plugins/fusion-track/box_motion.hpp"

#include <opencv2/core.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

namespace fusion_track {

struct FlowOptions {
    double scale = 1.0;   // the flow runs on frames resized by this factor (0 < scale <= 1)
    int max_points = 300; // points tracked per step, all boxes together
    int window_px = 11;   // LK window side at the flow's scale
    int pyramid_levels = 2;
    // A pair is kept when tracking back lands within this distance (pixels at the flow's
    // scale) of where it started.
    float max_forward_backward_px = 0.7f;
    // How far an object may move per frame (full-resolution pixels): the region of
    // interest around a box reaches this far per frame of the step, plus the window.
    float max_motion_px_per_frame = 12.0f;
    int cached_frames = 50; // frames catch_up() can reach back
    // catch_up() runs at most this many LK passes, skipping cached frames evenly beyond.
    int max_catch_up_steps = 8;
};

class FrameFlow {
  public:
    explicit FrameFlow(const FlowOptions &options) : options_(options) {}

    // Takes the next frame of the stream (CV_8UC3 BGR or CV_8UC1; borrowed for the call)
    // and returns the motion from the previous frame given to it of points seeded in
    // `boxes` (boxes in the previous frame's pixels, the most important first: seeds stop
    // at max_points). No motion for the first frame, or when the frame's size differs from
    // the previous one (then this frame starts afresh and the cache holds only it).
    std::optional<MotionStep> advance(const cv::Mat &frame, int64_t frame_index,
                                      std::span<const Box> boxes);

    // Moves `boxes` (in the pixels of frame `from`) to the newest frame given to advance(),
    // tracking points seeded in each box through the cached frames in between. False, with
    // `boxes` unchanged, when frame `from` is not in the cache (too old, or never seen).
    // Boxes are moved with follow_box(): `velocity` (one per box, pixels per frame) starts
    // at 0 and ends with each box's motion; `unsupported` gets, for each box, how many
    // passes in a row up to the newest frame moved it without enough points of its own.
    bool catch_up(std::vector<Box> &boxes, int64_t from, const BoxMotionOptions &motion,
                  std::vector<Point> &velocity, std::vector<int> &unsupported) const;

    // Forget every frame (the next advance() returns no motion).
    void reset();

  private:
    struct Cached {
        int64_t frame_index;
        cv::Mat gray; // downscaled
    };
    // The motion of points seeded in `boxes` from cached image `from` to `to`, `frames`
    // frames apart.
    MotionStep track_boxes(const Cached &from, const Cached &to, std::span<const Box> boxes,
                           int64_t frames) const;

    FlowOptions options_;
    std::deque<Cached> cache_;
    cv::Size frame_size_; // full resolution
};

// The points to track in an image of `small` size (already downscaled by `scale`): up to
// 5 x 5 inside the central part of each box (given in full-resolution pixels), box after
// box while they fit in `budget`. Exposed for tests.
std::vector<cv::Point2f> seed_points(cv::Size small, double scale, std::span<const Box> boxes,
                                     int budget);

} // namespace fusion_track
