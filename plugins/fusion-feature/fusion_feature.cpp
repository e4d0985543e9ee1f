// fusion-feature: feature-level fusion of video streams (docs/feature-fusion.md). The end's
// detector (det-light) hands its feature map of every frame to fuse_frame() with its boxes
// (`local->features`); the upstream answers key frames with its detector's (det-heavy's)
// map as well (`upstream->result->features`, [offload] frame_features). For each frame the
// key frame's map is moved to the frame by dense optical flow (feature_warp.hpp) and a small
// trained head (models/det-fusion.onnx, run by OpenCV DNN) turns both maps into boxes,
// decoded as the detectors' outputs are. Where a part is missing — no answer yet, an answer
// older than max_age_ms, its key frame no longer cached, no map with it, no head — the
// frame's boxes are the end's own (light-only): every frame gets an answer.
// Then (merge_boxes, the default) the upstream's own key-frame boxes are tracked to the
// frame and merged with those boxes as fusion-track does with the end's (box-level fusion
// over feature-level fusion): the two fusions are right about different objects, and
// together they score above either (docs/feature-fusion.md, "Design").
//
// Threads: fuse() on the loop thread, only copying memory; fuse_frame() on a worker, one
// call at a time (max_concurrent_calls 1), so the per-stream state needs no lock.
#include "plugins/fusion-feature/feature_warp.hpp"
#include "plugins/fusion-track/result_boxes.hpp"
#include "plugins/fusion-track/stream_fusion.hpp"
#include "plugins/fusion-track/stream_table.hpp"
#include "plugins/inference-opencv/detection_decoder.hpp"

#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

using fusion_track::copy_identity;
using fusion_track::write_detections;

// The [C, H, W] map of a result, or nullopt when it has none.
struct MapView {
    const float *data = nullptr;
    int channels = 0, height = 0, width = 0;
};
std::optional<MapView> map_of(const tierd_inference_result *r) {
    if (r == nullptr ||
        r->struct_size < offsetof(tierd_inference_result, features) + sizeof r->features ||
        r->features == nullptr || r->features->data == nullptr || r->features->rank != 3 ||
        r->features->count == 0)
        return std::nullopt;
    const tierd_tensor &t = *r->features;
    if (static_cast<std::size_t>(t.shape[0]) * t.shape[1] * t.shape[2] != t.count ||
        t.count > t.capacity)
        return std::nullopt;
    return MapView{t.data, t.shape[0], t.shape[1], t.shape[2]};
}

class FusionFeature {
  public:
    static constexpr const char *name = "fusion-feature";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "video: moves the upstream detector's key-frame feature map to each frame by dense "
        "optical flow and fuses it with the end detector's own map in a trained head";
    static constexpr uint32_t max_concurrent_calls = 1;

    static constexpr const char *const warp_measures[] = {"mean", "worst_blocks", nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_path("model", "",
                        "the fusion head (ONNX: inputs light_p8 and key_p8, outputs heatmap "
                        "and box; models/det-fusion.onnx); \"\" = none: light-only",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_int("input_width", "320", 8, 8192,
                       "the end detector's input width: the head's boxes are in its pixels"),
        tierd::key_int("input_height", "176", 8, 8192, "the end detector's input height"),
        tierd::key_double("score_threshold", "0.3", 0, 1, "fused boxes scoring below are dropped"),
        tierd::key_double("nms_iou", "0.5", 0, 1, "per-class non-maximum suppression overlap"),
        tierd::key_int("top_k", "100", 1, 10000, "at most this many fused boxes, best first"),
        tierd::key_double("max_age_ms", "2000", 0, 1e7,
                          "answers about key frames older than this are not used (light-only "
                          "until a newer one arrives)"),
        tierd::key_enum("warp_measure", "mean", warp_measures,
                        "the warp error the scheduler sees (ABI 1.6): the residual of the key "
                        "frame moved onto the frame, over the whole frame (mean) or its worst "
                        "tenth of 8x8 blocks (worst_blocks: a local change counts fully)"),
        tierd::key_int("history_frames", "64", 1, 4096,
                       "frames kept per stream (gray, 160 x 88) for the flow back to the key "
                       "frame: how late an answer can still be used"),
        tierd::key_bool("merge_boxes", "true",
                        "also track the upstream's key-frame boxes to each frame and merge "
                        "them with the fused boxes (fusion-track's box-level fusion on top); "
                        "false: the fused boxes alone"),
        tierd::key_int("max_streams", "8", 1, 4096,
                       "streams with state at once; the least recently fused one is dropped "
                       "beyond this"),
        tierd::key_int("threads", "0", 0, 256,
                       "OpenCV threads (cv::setNumThreads, process-wide); 0 leaves OpenCV's "
                       "setting as it is"),
    };

    FusionFeature(tierd::Host host, const tierd::Config &config) : host_(host) { load(config); }

    int reload(const tierd::Config &config) {
        load(config);
        streams_.clear();
        return TIERD_OK;
    }

    // Not a stream frame: the remote result when there is one, else the local one.
    int fuse(const tierd_task *, const tierd_inference_result *local,
             const tierd_inference_result *remote, tierd_inference_result &out) {
        const tierd_inference_result *pick = remote != nullptr ? remote : local;
        if (pick == nullptr) {
            host_.set_error("fuse: neither a local nor a remote result");
            return TIERD_EINVAL;
        }
        copy_identity(*pick, out);
        out.top_class = pick->top_class;
        out.top_score = pick->top_score;
        write_detections(out, scaled_boxes(*pick, pick->image_width, pick->image_height));
        if (out.detection_count > 0) {
            out.image_width = pick->image_width;
            out.image_height = pick->image_height;
        }
        const uint32_t have =
            pick->scores != nullptr ? std::min(pick->score_count, pick->score_capacity) : 0;
        return tierd::write_scores(out, pick->scores, have);
    }

    int fuse_frame(const tierd_task &task, const tierd_inference_result *local,
                   const tierd_upstream_result *upstream, tierd_inference_result &out) {
        const bool has_stream_fields =
            task.struct_size >= offsetof(tierd_task, captured_ns) + sizeof(task.captured_ns);
        const int64_t frame_index = has_stream_fields ? task.frame_index : -1;
        if (frame_index < 0) {
            host_.set_error("fuse_frame: the task is not a frame of a stream (frame_index -1)");
            return TIERD_EINVAL;
        }
        cv::Mat frame;
        if (tierd::image_view(task.image, frame) != nullptr)
            frame.release();
        Stream &s = stream_state(has_stream_fields && task.stream ? task.stream : "");
        if (!frame.empty())
            remember(s, frame_index, frame);

        // The result the frame is named after: its own, else the upstream answer's. Neither
        // (its work failed everywhere): the frame is still answered, with what is tracked.
        const tierd_inference_result *key_result = upstream ? upstream->result : nullptr;
        const tierd_inference_result *named = local != nullptr ? local : key_result;
        if (named != nullptr)
            copy_identity(*named, out);
        out.score_count = 0;
        out.top_class = -1;
        out.detection_count = 0;
        const int width = !frame.empty() ? frame.cols : named ? named->image_width : 0;
        const int height = !frame.empty() ? frame.rows : named ? named->image_height : 0;

        std::vector<inference_opencv::DetectionBox> fused;
        double warp_error = -1;
        const char *why =
            fuse_maps(s, frame_index, local, upstream, cv::Size(width, height), fused, warp_error);
        if (warp_error >= 0) // ABI 1.6: the scheduler's key-frame policy may weigh it
            tierd_result_set_warp_error(&out, warp_error);
        std::vector<tierd_detection> boxes;
        if (why == nullptr) {
            host_.counter_add("frames_fused", 1.0);
            for (const auto &b : fused)
                boxes.push_back({b.x, b.y, b.width, b.height, b.class_id, b.score, -1, 0});
        } else {
            // Light-only (or, for a frame answered upstream itself, its own answer).
            host_.counter_add(why, 1.0);
            if (named != nullptr)
                boxes = scaled_boxes(*named, width, height);
        }
        if (merge_boxes_)
            boxes = merge_tracked(s, frame, frame_index, boxes, upstream, width, height);
        write_detections(out, boxes);
        out.top_score = out.detection_count > 0 ? out.detections[0].score : 0.0f;
        out.image_width = width;
        out.image_height = height;
        return TIERD_OK;
    }

  private:
    struct Stream {
        explicit Stream(const fusion_track::FusionOptions &o) : boxes(o) {}
        fusion_track::StreamFusion boxes;               // the upstream boxes tracked (merge_boxes)
        std::deque<std::pair<int64_t, cv::Mat>> frames; // flow_image()s, oldest first
        uint64_t key_sequence = 0;                      // the answer key_map came with
        std::vector<float> key_map;                     // its map, copied ([C, H, W])
        int key_c = 0, key_h = 0, key_w = 0;
    };

    // Why a frame is not fused (a counter's name), or nullptr when `fused` is its answer.
    // `warp_error` gets fusion_feature::warp_error() whenever the key map was moved.
    const char *fuse_maps(Stream &s, int64_t frame_index, const tierd_inference_result *local,
                          const tierd_upstream_result *upstream, cv::Size frame,
                          std::vector<inference_opencv::DetectionBox> &fused, double &warp_error) {
        if (head_.empty())
            return "frames_no_head";
        if (upstream == nullptr || upstream->result == nullptr)
            return "frames_no_answer";
        if (upstream->age_ms > max_age_ms_)
            return "frames_answer_expired";
        const auto light = map_of(local);
        if (!light)
            return "frames_no_local_map";
        if (upstream->sequence != s.key_sequence) {
            const auto key = map_of(upstream->result);
            s.key_map.clear();
            s.key_sequence = upstream->sequence;
            if (key) {
                s.key_map.assign(key->data, key->data + static_cast<std::size_t>(key->channels) *
                                                            key->height * key->width);
                s.key_c = key->channels;
                s.key_h = key->height;
                s.key_w = key->width;
            }
        }
        if (s.key_map.empty())
            return "frames_no_upstream_map";
        const cv::Mat *key_frame = cached(s, upstream->frame_index);
        const cv::Mat *current = cached(s, frame_index);
        if (key_frame == nullptr || current == nullptr)
            return "answers_beyond_history";
        try {
            const auto started = std::chrono::steady_clock::now();
            const cv::Mat flow = upstream->frame_index == frame_index
                                     ? cv::Mat()
                                     : fusion_feature::flow_back(*current, *key_frame);
            fusion_feature::warp_features(s.key_map.data(), s.key_c, s.key_h, s.key_w, flow,
                                          warped_);
            warp_error = fusion_feature::warp_error(*current, *key_frame, flow, warp_measure_);
            host_.gauge_set("warp_error", warp_error);
            const int light_shape[] = {1, light->channels, light->height, light->width};
            const int key_shape[] = {1, s.key_c + 1, s.key_h, s.key_w};
            head_.setInput(cv::Mat(4, light_shape, CV_32F, const_cast<float *>(light->data)),
                           "light_p8");
            head_.setInput(cv::Mat(4, key_shape, CV_32F, warped_.data()), "key_p8");
            head_.forward(outputs_, std::vector<std::string>{"heatmap", "box"});
            fused = inference_opencv::decode_detections(outputs_[0], outputs_[1], input_, frame,
                                                        decode_);
            host_.gauge_set("fuse_frame_ms", std::chrono::duration<double, std::milli>(
                                                 std::chrono::steady_clock::now() - started)
                                                 .count());
        } catch (const std::exception &e) {
            // A map whose shape is not the head's: said once, then counted.
            if (!warned_) {
                host_.warning(std::string("the fusion head failed (light-only meanwhile): ") +
                              e.what());
                warned_ = true;
            }
            return "fusion_errors";
        }
        return nullptr;
    }

    // fusion-track's step: the upstream answer's boxes moved to this frame by sparse flow,
    // merged with `boxes` (this frame's own, fused or light-only).
    std::vector<tierd_detection> merge_tracked(Stream &s, const cv::Mat &frame, int64_t frame_index,
                                               const std::vector<tierd_detection> &boxes,
                                               const tierd_upstream_result *upstream, int width,
                                               int height) {
        std::optional<fusion_track::UpstreamAnswer> answer;
        if (upstream != nullptr && upstream->result != nullptr) {
            answer.emplace();
            answer->frame_index = upstream->frame_index;
            answer->age_ms = upstream->age_ms;
            answer->sequence = upstream->sequence;
            const tierd_inference_result &r = *upstream->result;
            const uint32_t n = tierd_result_detection_count(&r);
            if (n > 0)
                answer->detections = std::span<const tierd_detection>(r.detections, n);
            if (n > 0 && r.image_width > 0 && r.image_height > 0) {
                answer->scale_x = static_cast<float>(width) / static_cast<float>(r.image_width);
                answer->scale_y = static_cast<float>(height) / static_cast<float>(r.image_height);
            }
        }
        return s.boxes.step(frame, frame_index, boxes, answer).detections;
    }

    void remember(Stream &s, int64_t index, const cv::Mat &frame) {
        if (!s.frames.empty() && s.frames.back().first >= index)
            s.frames.clear(); // the stream started over
        s.frames.emplace_back(index, fusion_feature::flow_image(frame));
        while (s.frames.size() > history_frames_)
            s.frames.pop_front();
    }

    static const cv::Mat *cached(const Stream &s, int64_t index) {
        for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it)
            if (it->first == index)
                return &it->second;
        return nullptr;
    }

    void load(const tierd::Config &config) {
        const std::string path = config.get_string("model");
        head_ = cv::dnn::Net();
        if (!path.empty()) {
            try {
                head_ = cv::dnn::readNetFromONNX(path);
            } catch (const cv::Exception &e) {
                throw tierd::Error(TIERD_EIO,
                                   "cannot load the fusion head '" + path + "': " + e.what());
            }
            head_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
            head_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        } else {
            host_.warning("no fusion head configured ([plugin.fusion-feature] model = \"\"): "
                          "every frame is light-only");
        }
        input_ = cv::Size(static_cast<int>(config.get_int("input_width")),
                          static_cast<int>(config.get_int("input_height")));
        decode_.score_threshold = static_cast<float>(config.get_double("score_threshold"));
        decode_.nms_iou = static_cast<float>(config.get_double("nms_iou"));
        decode_.top_k = static_cast<int>(config.get_int("top_k"));
        max_age_ms_ = config.get_double("max_age_ms");
        merge_boxes_ = config.get_bool("merge_boxes");
        warp_measure_ = config.get_string("warp_measure") == "worst_blocks"
                            ? fusion_feature::WarpMeasure::worst_blocks
                            : fusion_feature::WarpMeasure::mean;
        track_options_ = fusion_track::FusionOptions{};
        track_options_.max_age_ms = max_age_ms_;
        history_frames_ = static_cast<std::size_t>(config.get_int("history_frames"));
        streams_.set_capacity(static_cast<std::size_t>(config.get_int("max_streams")));
        if (const int64_t threads = config.get_int("threads"); threads > 0)
            cv::setNumThreads(static_cast<int>(threads));
        warned_ = false;
    }

    // The stream's state, made on its first frame; beyond max_streams the least recently
    // fused stream is forgotten.
    Stream &stream_state(const std::string &stream) {
        bool dropped = false;
        Stream &s = streams_.get(
            stream, [this] { return Stream(track_options_); }, dropped);
        if (dropped)
            host_.counter_add("streams_dropped", 1.0);
        return s;
    }

    // `from`'s boxes, best first, scaled to a width x height image.
    static std::vector<tierd_detection> scaled_boxes(const tierd_inference_result &from, int width,
                                                     int height) {
        const uint32_t n = tierd_result_detection_count(&from);
        if (n == 0)
            return {};
        std::vector<tierd_detection> boxes(from.detections, from.detections + n);
        std::stable_sort(boxes.begin(), boxes.end(),
                         [](const auto &a, const auto &b) { return a.score > b.score; });
        const float sx = from.image_width > 0 && width > 0
                             ? static_cast<float>(width) / static_cast<float>(from.image_width)
                             : 1.0f;
        const float sy = from.image_height > 0 && height > 0
                             ? static_cast<float>(height) / static_cast<float>(from.image_height)
                             : 1.0f;
        for (tierd_detection &d : boxes) {
            d.x *= sx;
            d.width *= sx;
            d.y *= sy;
            d.height *= sy;
        }
        return boxes;
    }

    tierd::Host host_;
    cv::dnn::Net head_;
    cv::Size input_{320, 176};
    inference_opencv::DecodeOptions decode_;
    double max_age_ms_ = 2000;
    bool merge_boxes_ = true;
    fusion_feature::WarpMeasure warp_measure_ = fusion_feature::WarpMeasure::mean;
    fusion_track::FusionOptions track_options_;
    std::size_t history_frames_ = 64;
    bool warned_ = false;
    fusion_track::StreamTable<Stream> streams_;
    std::vector<float> warped_;
    std::vector<cv::Mat> outputs_;
};

} // namespace

TIERD_PLUGIN(FusionFeature, TIERD_KIND_FUSION)
