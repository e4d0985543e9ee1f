// The motion of a stream's frames, measured with OpenCV's pyramidal Lucas-Kanade optical
// flow on downscaled gray copies of the frames: points seeded in boxes (where objects are)
// and on a grid over the rest, tracked forwards and back, kept where both directions agree.
//
// Two uses:
//   advance()  each frame: the motion from the previous frame, for the boxes being tracked;
//   catch_up() when an answer about an earlier key frame arrives: its boxes are tracked
//              through the frames since then (as Glimpse does with its frame cache), with
//              points seeded in those very boxes.
// So FrameFlow keeps the last `cached_frames` frames as (downscaled) gray images: 230 KB
// for a 640x360 frame at scale 1, 14.7 MB for 64 frames (a quarter at scale 0.5), and the
// newest frame's pyramid; never the colour frames. Not thread-safe: one call at a time.
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
    int max_points = 300; // points tracked per frame, box seeds and grid together
    int window_px = 11;   // LK window side at the flow's scale
    int pyramid_levels = 2;
    // A pair is kept when tracking back lands within this distance (pixels at the flow's
    // scale) of where it started.
    float max_forward_backward_px = 0.7f;
    int cached_frames = 50; // frames catch_up() can reach back
    // catch_up() runs at most this many LK passes, skipping cached frames evenly beyond.
    int max_catch_up_steps = 8;
};

class FrameFlow {
  public:
    explicit FrameFlow(const FlowOptions &options) : options_(options) {}

    // Takes the next frame of the stream (CV_8UC3 BGR or CV_8UC1; borrowed for the call)
    // and returns the motion from the previous frame given to it, with points seeded in
    // `boxes_of_interest` (boxes in the previous frame's pixels) first and a grid after.
    // No motion for the first frame, or when the frame's size differs from the previous
    // one (then this frame starts afresh and the cache holds only it).
    std::optional<MotionStep> advance(const cv::Mat &frame, int64_t frame_index,
                                      std::span<const Box> boxes_of_interest);

    // Moves `boxes` (in the pixels of frame `from`) to the newest frame given to advance(),
    // tracking points seeded in each box through the cached frames in between. False, with
    // `boxes` unchanged, when frame `from` is not in the cache (too old, or never seen).
    // Boxes are moved with follow_box(): `velocity` (one per box, pixels per frame) starts
    // at 0 and ends with each box's motion; `unsupported` gets, for each box, how many
    // passes in a row up to the newest frame moved it without enough points of its own.
    bool catch_up(std::vector<Box> &boxes, int64_t from, const BoxMotionOptions &motion,
                  std::vector<Point> &velocity, std::vector<int> &unsupported);

    // Forget every frame (the next advance() returns no motion).
    void reset();

  private:
    struct Cached {
        int64_t frame_index;
        cv::Mat gray; // downscaled
    };
    struct Pyramid {
        std::vector<cv::Mat> levels;
        int top = 0; // levels above the base
    };
    void build_pyramid(const cv::Mat &gray, Pyramid &out) const;
    MotionStep track(const Pyramid &from, const Pyramid &to, cv::Size small,
                     const std::vector<cv::Point2f> &seeds, int64_t from_frame,
                     int64_t to_frame) const;

    FlowOptions options_;
    std::deque<Cached> cache_;
    Pyramid newest_;
    // Buffers kept between calls (reused, not reallocated): the next frame's pyramid, and
    // catch_up()'s two.
    Pyramid spare_;
    Pyramid catch_up_[2];
    cv::Size frame_size_; // full resolution
};

// The points to track in an image of `small` size (already downscaled by `scale`): up to
// 5 x 5 inside the central part of each box (given in full-resolution pixels) while they
// fit in `box_budget`, then a regular grid of about `grid_budget` points. Exposed for tests.
std::vector<cv::Point2f> seed_points(cv::Size small, double scale, std::span<const Box> boxes,
                                     int box_budget, int grid_budget);

} // namespace fusion_track
