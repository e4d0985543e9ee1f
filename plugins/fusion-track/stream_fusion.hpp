// Box-level fusion of one video stream (Glimpse / EAAR style): the upstream detector's
// boxes of a key frame are moved through the motion measured since that frame, then frame
// by frame, and merged with the end's own boxes of each frame.
//
// Per frame (step(), in frame order):
//   1. the motion of the tracks from the previous frame is measured (FrameFlow, which also
//      keeps the last flow.cached_frames frames, downscaled and gray);
//   2. the boxes tracked so far move with it;
//   3. a new upstream answer (its sequence changed) about key frame k replaces them: its
//      boxes are tracked from k through the cached frames to this frame (track ids carry
//      over from the old tracks they overlap). An answer about a frame no longer cached, or
//      older than max_age_ms, or no answer at all (upstream unreachable) leaves no tracks:
//      light only;
//   4. tracks and local boxes of the same class overlapping by >= iou_threshold become one
//      box (position: the tracked box, mixed with the local one by local_weight, and kept
//      as the track's new position; score: the two detectors' scores weighted by the
//      answer's freshness f = 0.5^(age / half-life): f x upstream + (1 - f) x local);
//      unmatched tracks stay with f x their score; unmatched local boxes stay with their
//      score x (1 - (1 - unconfirmed_local_factor) x f); tracks that left the image are
//      dropped.
//
// Not thread-safe: one stream's frames are fused one at a time (the host's contract).
#pragma once

#include "plugins/fusion-track/box_motion.hpp"
#include "plugins/fusion-track/frame_flow.hpp"

#include <tierd/plugin.h>

#include <opencv2/core.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace fusion_track {

struct FusionOptions {
    float iou_threshold = 0.3f;       // same-class overlap that makes a track and a local box one
    double score_half_life_ms = 1000; // an upstream box's score halves every this long
    double max_age_ms = 2000;         // answers older than this are not used
    float local_weight = 0.5f;        // weight of the local box in a merged box's position
    // A track's score is multiplied by this for each step in a row without its own points.
    double unsupported_factor = 0.7;
    // A local box no tracked upstream box confirms: its score is multiplied by this while
    // the answer is fresh, rising back to 1 as the answer ages (same half-life): the
    // upstream detector looked there and found nothing, but an object may have come since.
    double unconfirmed_local_factor = 0.5;
    FlowOptions flow;
    BoxMotionOptions motion;
};

// The newest upstream answer, as fuse_frame() receives it, with its boxes already in the
// current frame's pixel grid (the host may have sent the key frame at another size).
struct UpstreamAnswer {
    int64_t frame_index = 0; // the key frame the boxes are about
    double age_ms = 0;       // since that frame's capture
    uint64_t sequence = 0;   // changes with each new answer
    std::span<const tierd_detection> detections;
    float scale_x = 1, scale_y = 1; // multiply the boxes by these to get current pixels
};

// What happened to the upstream answer in a step (for the plugin's counters).
enum class AnswerUse {
    none,           // no answer given
    tracking,       // the answer already applied keeps being tracked
    applied,        // a new answer was moved to this frame and applied
    beyond_history, // a new answer about a frame no longer cached: not used
    expired,        // the answer is older than max_age_ms: not used
};

struct StepResult {
    std::vector<tierd_detection> detections; // best (highest score) first
    AnswerUse answer = AnswerUse::none;
    int tracks = 0; // upstream boxes tracked after this frame
};

class StreamFusion {
  public:
    explicit StreamFusion(const FusionOptions &options) : options_(options), flow_(options.flow) {}

    // Fuses frame `frame_index` (`frame`: its image, CV_8UC3 BGR or CV_8UC1, borrowed;
    // empty when the task has none: nothing moves then). `local`: the end's boxes for this
    // frame (empty when none). `upstream`: the newest answer that has arrived, or none.
    // A frame_index not after the previous one restarts the stream (all state dropped).
    StepResult step(const cv::Mat &frame, int64_t frame_index,
                    std::span<const tierd_detection> local,
                    const std::optional<UpstreamAnswer> &upstream);

  private:
    struct Track {
        Box box;
        int32_t class_id = 0;
        float score = 0; // the upstream detector's score for it
        int32_t id = 0;
        bool moved = false; // moved from an earlier frame at least once
        // Optical-flow steps in a row that found too few points in the box to move it by
        // its own motion: the object is likely hidden or lost; its score fades with it.
        int unsupported = 0;
        Point velocity; // pixels per frame, while its own points moved it
    };

    void reset();
    void apply_answer(const UpstreamAnswer &answer, int64_t frame_index, StepResult &result);

    FusionOptions options_;
    FrameFlow flow_;
    std::vector<Track> tracks_;
    std::optional<uint64_t> applied_sequence_;
    std::vector<Box> seed_boxes_; // where the flow seeds points: the tracks, best first
    int64_t last_frame_ = -1;
    int32_t next_track_id_ = 0;
};

} // namespace fusion_track
