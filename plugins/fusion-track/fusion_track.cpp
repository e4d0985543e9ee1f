// fusion-track: box-level fusion of video streams (docs/fusion-track.md). For each frame of
// a stream, fuse_frame() moves the newest upstream answer's boxes (about an earlier key
// frame) to the frame by sparse optical flow and merges them with the end's own boxes
// (stream_fusion.hpp says how). fuse(), for tasks that are not stream frames, passes the
// preferred result through as fusion-passthrough does, detections included.
//
// Threads: fuse() on the loop thread, only copying memory; fuse_frame() on a worker, one
// call at a time (max_concurrent_calls 1), so the per-stream state needs no lock.
#include "plugins/fusion-track/result_boxes.hpp"
#include "plugins/fusion-track/stream_fusion.hpp"
#include "plugins/fusion-track/stream_table.hpp"

#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include <opencv2/core/utility.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using fusion_track::AnswerUse;
using fusion_track::FusionOptions;
using fusion_track::StreamFusion;
using fusion_track::UpstreamAnswer;

using fusion_track::copy_identity;
using fusion_track::write_detections;

std::vector<tierd_detection> detections_of(const tierd_inference_result *result) {
    const uint32_t n = tierd_result_detection_count(result);
    if (n == 0)
        return {};
    return std::vector<tierd_detection>(result->detections, result->detections + n);
}

// Factors that take boxes of `result` (about an image_width x image_height image) to a
// width x height image; 1 where either size is unknown.
std::pair<float, float> scale_to(const tierd_inference_result *result, int width, int height) {
    if (tierd_result_detection_count(result) == 0 || result->image_width <= 0 ||
        result->image_height <= 0 || width <= 0 || height <= 0)
        return {1.0f, 1.0f};
    return {static_cast<float>(width) / static_cast<float>(result->image_width),
            static_cast<float>(height) / static_cast<float>(result->image_height)};
}

class FusionTrack {
  public:
    static constexpr const char *name = "fusion-track";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "video: moves the upstream detector's key-frame boxes to each frame by optical flow "
        "and merges them with the end's own boxes";

    static constexpr const char *const preferences[] = {"remote", "local", nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_double("iou_threshold", "0.3", 0.05, 0.95,
                          "a tracked upstream box and a local box of the same class overlapping "
                          "at least this much (IoU) become one box"),
        tierd::key_double("score_half_life_ms", "1000", 1, 1e7,
                          "an upstream box's score halves every this many ms since its key "
                          "frame was captured"),
        tierd::key_double("max_age_ms", "2000", 0, 1e7,
                          "upstream answers about key frames older than this are not used "
                          "(light-only until a newer one arrives)"),
        tierd::key_double("local_weight", "0.5", 0, 1,
                          "weight of the local box in the position of a merged box (0: the "
                          "tracked upstream box)"),
        tierd::key_double("unconfirmed_local_factor", "0.5", 0, 1,
                          "a local box no tracked upstream box confirms has its score "
                          "multiplied by this while the answer is fresh, back towards 1 as "
                          "it ages (score_half_life_ms); 1 leaves local boxes as they are"),
        tierd::key_double("flow_scale", "1", 0.1, 1,
                          "optical flow runs on frames resized by this factor"),
        tierd::key_int("max_points", "300", 16, 20000,
                       "points tracked per optical-flow step, up to 25 in each box, best boxes "
                       "first"),
        tierd::key_int("flow_window_px", "11", 5, 41,
                       "Lucas-Kanade window side, in pixels of the resized frame"),
        tierd::key_int("history_frames", "50", 1, 1024,
                       "frames kept per stream (downscaled, gray): how late an answer can "
                       "still be moved to the current frame"),
        tierd::key_int("catch_up_steps", "8", 1, 1024,
                       "a late answer's boxes are tracked to the current frame in at most this "
                       "many optical-flow passes (frames skipped evenly beyond)"),
        tierd::key_bool("estimate_scale", "false",
                        "also follow size changes (from the spread of a box's points)"),
        tierd::key_int("max_streams", "8", 1, 4096,
                       "streams with state at once; the least recently fused one is dropped "
                       "beyond this"),
        tierd::key_int("threads", "0", 0, 256,
                       "OpenCV threads (cv::setNumThreads, process-wide); 0 leaves OpenCV's "
                       "setting as it is"),
        tierd::key_bool("merge_local", "true",
                        "merge the end's own boxes in; false: a frame's result is the "
                        "upstream boxes tracked to it only (key frames + tracking), nothing "
                        "before the first answer"),
        tierd::key_enum("prefer", "remote", preferences,
                        "fuse() of tasks that are not stream frames: which result wins when "
                        "both are available"),
    };

    FusionTrack(tierd::Host host, const tierd::Config &config) : host_(host) { load(config); }

    int reload(const tierd::Config &config) {
        load(config);
        streams_.clear(); // the flow's scale and window may have changed
        return TIERD_OK;
    }

    int fuse(const tierd_task *, const tierd_inference_result *local,
             const tierd_inference_result *remote, tierd_inference_result &out) {
        const tierd_inference_result *first = prefer_remote_ ? remote : local;
        const tierd_inference_result *second = prefer_remote_ ? local : remote;
        const tierd_inference_result *pick = first != nullptr ? first : second;
        if (pick == nullptr) {
            host_.set_error("fuse: neither a local nor a remote result");
            return TIERD_EINVAL;
        }
        host_.counter_add(pick == remote ? "picked_remote" : "picked_local", 1.0);
        copy_identity(*pick, out);
        out.top_class = pick->top_class;
        out.top_score = pick->top_score;
        if (tierd_result_detection_count(pick) > 0) {
            std::vector<tierd_detection> boxes = detections_of(pick);
            std::stable_sort(boxes.begin(), boxes.end(),
                             [](const auto &a, const auto &b) { return a.score > b.score; });
            write_detections(out, boxes);
            out.image_width = pick->image_width;
            out.image_height = pick->image_height;
        }
        uint32_t have = pick->scores != nullptr ? pick->score_count : 0;
        if (have > pick->score_capacity)
            have = pick->score_capacity;
        return tierd::write_scores(out, pick->scores, have);
    }

    int fuse_frame(const tierd_task &task, const tierd_inference_result *local,
                   const tierd_upstream_result *upstream, tierd_inference_result &out) {
        const auto started = std::chrono::steady_clock::now();
        cv::Mat frame;
        if (tierd::image_view(task.image, frame) != nullptr)
            frame.release(); // no usable image: nothing moves on this frame
        const bool has_stream_fields =
            task.struct_size >= offsetof(tierd_task, captured_ns) + sizeof(task.captured_ns);
        const std::string stream = has_stream_fields && task.stream ? task.stream : "";
        const int64_t frame_index = has_stream_fields ? task.frame_index : -1;
        if (frame_index < 0) {
            host_.set_error("fuse_frame: the task is not a frame of a stream (frame_index -1)");
            return TIERD_EINVAL;
        }
        int width = frame.cols, height = frame.rows;
        if (frame.empty() && local != nullptr && tierd_result_detection_count(local) > 0) {
            width = local->image_width;
            height = local->image_height;
        }

        std::vector<tierd_detection> local_boxes =
            merge_local_ ? detections_of(local) : std::vector<tierd_detection>{};
        const auto [lx, ly] = scale_to(local, width, height);
        for (tierd_detection &d : local_boxes) {
            d.x *= lx;
            d.width *= lx;
            d.y *= ly;
            d.height *= ly;
        }
        std::optional<UpstreamAnswer> answer;
        if (upstream != nullptr && upstream->result != nullptr) {
            answer.emplace();
            answer->frame_index = upstream->frame_index;
            answer->age_ms = upstream->age_ms;
            answer->sequence = upstream->sequence;
            const uint32_t n = tierd_result_detection_count(upstream->result);
            if (n > 0)
                answer->detections =
                    std::span<const tierd_detection>(upstream->result->detections, n);
            std::tie(answer->scale_x, answer->scale_y) = scale_to(upstream->result, width, height);
        }

        StreamFusion &fusion = stream_state(stream);
        const fusion_track::StepResult fused = fusion.step(frame, frame_index, local_boxes, answer);
        count(fused.answer);

        const tierd_inference_result *named = local != nullptr ? local
                                              : upstream       ? upstream->result
                                                               : nullptr;
        if (named != nullptr)
            copy_identity(*named, out);
        out.score_count = 0;
        out.top_class = -1;
        out.top_score = fused.detections.empty() ? 0.0f : fused.detections.front().score;
        out.detection_count = 0;
        write_detections(out, fused.detections);
        out.image_width = width;
        out.image_height = height;

        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        host_.gauge_set("fuse_frame_ms", ms);
        host_.gauge_set("tracked_boxes", fused.tracks);
        return TIERD_OK;
    }

  private:
    void load(const tierd::Config &config) {
        FusionOptions o;
        o.iou_threshold = static_cast<float>(config.get_double("iou_threshold"));
        o.score_half_life_ms = config.get_double("score_half_life_ms");
        o.max_age_ms = config.get_double("max_age_ms");
        o.local_weight = static_cast<float>(config.get_double("local_weight"));
        o.unconfirmed_local_factor = config.get_double("unconfirmed_local_factor");
        o.flow.scale = config.get_double("flow_scale");
        o.flow.max_points = static_cast<int>(config.get_int("max_points"));
        o.flow.window_px = static_cast<int>(config.get_int("flow_window_px"));
        o.flow.cached_frames = static_cast<int>(config.get_int("history_frames"));
        o.flow.max_catch_up_steps = static_cast<int>(config.get_int("catch_up_steps"));
        o.motion.estimate_scale = config.get_bool("estimate_scale");
        options_ = o;
        streams_.set_capacity(static_cast<std::size_t>(config.get_int("max_streams")));
        prefer_remote_ = config.get_string("prefer") == "remote";
        merge_local_ = config.get_bool("merge_local");
        if (const int64_t threads = config.get_int("threads"); threads > 0)
            cv::setNumThreads(static_cast<int>(threads));
    }

    // The stream's state, made on its first frame; beyond max_streams the least recently
    // fused stream is forgotten.
    StreamFusion &stream_state(const std::string &stream) {
        bool dropped = false;
        StreamFusion &fusion = streams_.get(
            stream, [this] { return StreamFusion(options_); }, dropped);
        if (dropped)
            host_.counter_add("streams_dropped", 1.0);
        return fusion;
    }

    void count(AnswerUse use) {
        switch (use) {
        case AnswerUse::applied: host_.counter_add("answers_applied", 1.0); break;
        case AnswerUse::beyond_history: host_.counter_add("answers_beyond_history", 1.0); break;
        case AnswerUse::expired: host_.counter_add("frames_answer_expired", 1.0); break;
        case AnswerUse::none: host_.counter_add("frames_light_only", 1.0); break;
        case AnswerUse::tracking: break;
        }
    }

    tierd::Host host_;
    FusionOptions options_;
    bool prefer_remote_ = true;
    bool merge_local_ = true; // false: key frames + tracking only (no local boxes)
    fusion_track::StreamTable<StreamFusion> streams_;
};

} // namespace

TIERD_PLUGIN(FusionTrack, TIERD_KIND_FUSION)
