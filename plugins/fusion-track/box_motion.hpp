// How boxes move between two frames of a video: the sparse motion measured from one frame
// to the next (point pairs, from optical flow) and the rule that moves a box with it.
//
// Units: pixels of the frames the stream's tasks carry (full resolution, origin top-left,
// x right, y down). Pure computation on values; any thread.
#pragma once

#include <cstdint>
#include <vector>

namespace fusion_track {

// An axis-aligned box: top-left corner and size, as tierd_detection has it.
struct Box {
    float x = 0, y = 0;
    float width = 0, height = 0;
};

float box_area(const Box &box);
// Intersection over union; 0 when either box is empty.
float box_iou(const Box &a, const Box &b);
// The part of `box` inside a width x height image (possibly empty).
Box clip_box(const Box &box, float width, float height);

struct Point {
    float x = 0, y = 0;
};

// The motion from frame `from_frame` to frame `to_frame` (usually the next one): points of
// the earlier frame and where each went, kept only where the flow was trustworthy
// (tracked forwards and back to within a fraction of a pixel).
struct MotionStep {
    int64_t from_frame = 0;
    int64_t to_frame = 0;
    std::vector<Point> from; // in from_frame's pixels
    std::vector<Point> to;   // the same points in to_frame's pixels (same size as `from`)
    // The median displacement of all pairs: the common motion of the tracked points (the
    // camera's, when most objects stand still); what move_box() falls back on.
    Point global_shift;
};

// How a box was moved through one step: by its own points, or by the global shift.
struct BoxMove {
    Box box;
    int support = 0; // point pairs the move is based on (0: the global shift was used)
};

// Options of move_box().
struct BoxMotionOptions {
    // Estimate a change of size from the spread of the box's points as well (at least
    // kMinScalePoints of them), limited to +-max_scale_change per step.
    bool estimate_scale = false;
    float max_scale_change = 0.03f;
};

// Moves `box` (in step.from_frame's pixels) to step.to_frame: by the median displacement
// of the point pairs that start in the central part of the box (an object's border and the
// background around it are mostly in the outer part), or of the whole box when the centre
// has too few, or else by the step's global shift.
BoxMove move_box(const Box &box, const MotionStep &step, const BoxMotionOptions &options);

// move_box() for a box followed over many steps: a box with points of its own moves by them
// and updates `velocity` (pixels per frame, smoothed); a box without (hidden, blurred, or
// leaving the image, where its points fall outside) coasts on `velocity` instead of the
// camera's global shift, so an object that was leaving keeps leaving.
BoxMove follow_box(const Box &box, const MotionStep &step, const BoxMotionOptions &options,
                   Point &velocity);

inline constexpr int kMinMovePoints = 3;
inline constexpr int kMinScalePoints = 6;

} // namespace fusion_track
