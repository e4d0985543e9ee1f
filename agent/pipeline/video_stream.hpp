// What the end keeps per video stream (ABI 1.4): tasks made of frames with an index
// (tierd_frame.frame_index >= 0) belong to the stream of their source. Their results are
// fused in frame order, one at a time (fuse_frame: the fusion plugin tracks boxes from
// frame to frame); key frames go upstream beside the local work, and the newest answer
// that has arrived is handed to the frames fused after its arrival, never before.
//
// Threads: loop thread only. Workers see snapshots copied into their tasks.
#pragma once

#include "agent/pipeline/task.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tierd {

// The 32x18 gray thumbnail of an image (a mean over each cell, sampled), for the
// scene-change measure. Any thread; cost ~ 576 x a few dozen pixel reads.
std::vector<std::uint8_t> frame_thumbnail(const tierd_image &image);
// Mean absolute difference of two thumbnails in [0, 1]; -1 when either is missing.
double thumbnail_difference(const std::vector<std::uint8_t> &a, const std::vector<std::uint8_t> &b);

class VideoStream {
  public:
    static constexpr std::size_t kThumbnailWidth = 32, kThumbnailHeight = 18;

    explicit VideoStream(std::string name) : name_(std::move(name)) {}

    const std::string &name() const { return name_; }

    // A frame's task started (in frame order for a pull source).
    void started(std::int64_t frame_index, std::uint64_t now_ns);
    // What the scheduler sees for `task` (its local result when it ran first).
    tierd_stream_state state(const Task &task, std::uint64_t now_ns) const;
    // `task` (a frame of this stream) was made a key frame and its copy sent up.
    void key_frame_sent(const Task &task);
    // A key frame could not be sent (the tier offline) or its answer never came.
    void key_frame_lost() {
        ++key_lost_;
        if (key_in_flight_ > 0)
            --key_in_flight_;
    }
    // What a key frame's copy cost on the link: its request (sent, answered or not) and
    // its reply.
    void key_frame_bytes(std::size_t up, std::size_t down) {
        key_bytes_up_ += up;
        key_bytes_down_ += down;
    }
    // An upstream answer about frame `frame_index` (a key frame's, or a frame placed
    // upstream whose own answer it is) arrived now.
    void upstream_arrived(const Task::Outcome &answer, std::int64_t frame_index, tierd_tier tier,
                          std::uint64_t captured_ns, std::uint64_t now_ns, bool key_frame);

    // Ordered fusion: `task` is ready to fuse. take_next() hands out the tasks whose turn
    // it is (every earlier started frame already handed out), in frame order.
    void ready(TaskPtr task);
    bool has_next() const;
    TaskPtr take_next();

    // The upstream answer for fusing frame `frame_index` now: the newest that has arrived
    // about that frame or an earlier one (a frame fused late, behind a lagging end, is
    // never handed an answer about a later frame: boxes are moved forward in time only).
    // Copies it into `into` and fills `view`; false when there is none.
    bool upstream_for(std::uint64_t now_ns, std::int64_t frame_index, Task::Outcome &into,
                      tierd_upstream_result &view) const;

    // The local result of a frame as the scheduler's trigger inputs remember it.
    void saw_local(const tierd_inference_result &local);
    // The fusion plugin carried the answer about `key_frame` to `frame_index` with this
    // warp error (ABI 1.6, >= 0); the scheduler sees the newest from then on.
    void fused(std::int64_t frame_index, std::int64_t key_frame, double warp_error);

    bool idle() const { return open_.empty() && ready_.empty(); }
    // {"frames", "key_frames": {"sent", "answered", "lost", "in_flight", "bytes_up",
    //  "bytes_down"},
    //  "upstream_answers", "upstream_age_ms"?, "last_key_frame",
    //  "warp_error"?: {"value", "frame", "key_frame"}}
    nlohmann::json stats(std::uint64_t now_ns) const;

  private:
    std::string name_;
    std::set<std::int64_t> open_;           // started, not yet handed to fusion
    std::map<std::int64_t, TaskPtr> ready_; // finished their work, waiting for their turn
    std::uint64_t frames_ = 0;
    std::uint64_t last_start_ns_ = 0;
    double frame_interval_ms_ = 0.0; // EWMA

    // Key frames.
    std::int64_t last_key_frame_ = -1;
    std::uint32_t key_in_flight_ = 0;
    std::uint64_t key_sent_ = 0, key_answered_ = 0, key_lost_ = 0;
    std::uint64_t key_bytes_up_ = 0, key_bytes_down_ = 0;
    std::vector<std::uint8_t> key_thumbnail_;
    int key_local_count_ = -1;

    // The newest upstream answers, by the frame they are about (a few: frames fused late
    // need the one before a newer answer).
    struct Answer {
        Task::Outcome outcome;
        tierd_tier tier = TIERD_TIER_EDGE;
        std::uint64_t captured_ns = 0, arrived_ns = 0, sequence = 0;
    };
    static constexpr std::size_t kAnswersKept = 8;
    std::map<std::int64_t, Answer> answers_;
    std::uint64_t upstream_sequence_ = 0;

    // The last local result seen (the trigger inputs when this frame has none yet).
    int last_local_count_ = -1;
    double last_local_mean_ = -1.0;

    // The newest warp error the fusion plugin reported, and where (-1: none yet).
    double warp_error_ = -1.0;
    std::int64_t warp_error_frame_ = -1, warp_error_key_frame_ = -1;
};

} // namespace tierd
