// One unit of work in the end's pipeline, from its source image to its result document,
// and the stage it is in. Each stage writes only its own part; a part whose stage did not
// run stays empty (its `ok` false).
//
// Threads: exactly one thread touches a task at a time — the loop, or the worker running
// its current stage. Its address is stable while it is in flight (the plugin structs
// point into it). Tasks are recycled (reset()) to keep their buffers.
#pragma once

#include "agent/pipeline/feature_codec.hpp"
#include "agent/pipeline/source_frame.hpp"
#include "agent/plugin_host/plugin_instance.hpp"

#include <tierd/plugin.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tierd {

// The plugins a task uses, taken when it starts; any may be null (that stage is skipped,
// or, for inference, the task fails with a reason). Holding them keeps an unloaded
// plugin alive until the task is done with it.
struct PipelinePlugins {
    std::shared_ptr<PluginInstance> source, scheduler, preclassifier, inference, fusion;
};

struct Task {
    enum class Stage {
        preparing,      // worker: the local model first (local_first), the pre-classifier
        deciding,       // loop: the scheduler's placement
        computing_head, // worker: a split task's head, here
        offloaded,      // waiting for the upstream tier's reply (OffloadClient)
        inferring,      // worker: the model here
        fusing,         // loop: the fusion plugin
        finished,       // the result is written; the task goes back to the free list
    };

    // Boxes a result may carry (ABI 1.4 detection buffer): a detector writes its best ones.
    static constexpr std::uint32_t kMaxDetections = 256;

    // An inference outcome and the buffers its scores, detections and features live in.
    struct Outcome {
        std::vector<float> scores;
        std::vector<tierd_detection> detections;
        tierd_inference_result result{};
        bool ok = false;
        // The feature map (feature fusion): shared by the copies of this outcome (a stream
        // keeps the newest upstream answer for many frames), so never written once shared;
        // result.features points at feature_view when the outcome has one.
        std::shared_ptr<std::vector<float>> feature_data;
        tierd_tensor feature_view{};
        // A buffer of `floats` for the inference to write its map into (after prepare()).
        void want_features(std::uint32_t floats) {
            if (!feature_data || feature_data.use_count() > 1)
                feature_data = std::make_shared<std::vector<float>>();
            feature_data->resize(floats);
            feature_view = tierd_tensor{};
            feature_view.struct_size = sizeof feature_view;
            feature_view.data = feature_data->data();
            feature_view.capacity = floats;
            result.features = &feature_view;
        }
        // Takes `values` ([C, H, W], NaN where not sent) as this outcome's feature map.
        void set_features(std::vector<float> values, const std::vector<int> &shape) {
            feature_data = std::make_shared<std::vector<float>>(std::move(values));
            feature_view = tierd_tensor{};
            feature_view.struct_size = sizeof feature_view;
            feature_view.rank = static_cast<std::uint32_t>(std::min<std::size_t>(shape.size(), 4));
            for (std::uint32_t i = 0; i < feature_view.rank; ++i)
                feature_view.shape[i] = shape[i];
            feature_view.data = feature_data->data();
            feature_view.capacity = feature_view.count =
                static_cast<std::uint32_t>(feature_data->size());
            result.features = &feature_view;
        }
        // Points `result` at fresh buffers of `capacity` scores and kMaxDetections boxes.
        void prepare(std::uint32_t capacity) {
            scores.resize(capacity);
            detections.resize(kMaxDetections);
            result = tierd_inference_result{};
            result.struct_size = sizeof result;
            result.scores = scores.data();
            result.score_capacity = capacity;
            result.detections = detections.data();
            result.detection_capacity = kMaxDetections;
            result.warp_error = -1.0; // ABI 1.6: not measured
            ok = false;
        }
        // Takes `boxes` (an upstream reply's) as this result's detections, into the buffer
        // the task keeps (no allocation once it has held kMaxDetections).
        void set_detections(const std::vector<tierd_detection> &boxes, int width, int height) {
            detections.assign(boxes.begin(), boxes.end());
            result.detections = detections.data();
            result.detection_capacity = result.detection_count =
                static_cast<std::uint32_t>(detections.size());
            result.image_width = width;
            result.image_height = height;
        }
        // A deep copy of `other` (its buffers too), so it outlives `other`.
        void copy_from(const Outcome &other) {
            scores = other.scores;
            detections = other.detections;
            result = other.result;
            result.scores = scores.data();
            result.detections = detections.data();
            feature_data = other.feature_data;
            feature_view = other.feature_view;
            result.features = other.result.features != nullptr ? &feature_view : nullptr;
            ok = other.ok;
        }
    };

    Stage stage = Stage::preparing;
    std::uint64_t seq = 0;
    SourceImage in;
    PipelinePlugins plugins;
    std::string task_id, source;
    std::string stream; // the video stream the frame belongs to (task.stream), else ""
    tierd_image image{};
    tierd_task task{};
    std::uint64_t start_ns = 0;

    // Video (a stream frame): a 32x18 gray thumbnail for the scene-change measure, made on
    // the prepare worker; and, for a key frame's copy sent up, the stream it reports to.
    std::vector<std::uint8_t> thumbnail;
    bool key_frame_copy = false; // this task only carries a key frame upstream
    bool label_copy = false;     // this task only asks upstream for a label (learn())
    int jpeg_quality = 0;        // > 0: its image travels upstream as a JPEG of this quality
    // A video frame's feature maps for feature fusion: asked of the upstream with the
    // frame (when sent up) and of the local detector.
    FeatureCompression features = FeatureCompression::none;
    // Stage fusing of a stream frame: the newest upstream answer when it was handed over.
    Outcome upstream_seen;
    tierd_upstream_result upstream_view{};
    bool have_upstream_view = false;
    bool upstream_unreachable = false; // an answer was held but its tier is offline now

    // Stage preparing: the pre-classifier.
    struct Preclass {
        std::vector<float> features;
        tierd_preclass_result result{};
        double ms = 0.0;
        bool ok = false;
    } pre;

    // Stage deciding: where it runs. `upstream`: on another tier; `split`: and its head here.
    tierd_decision decision{};
    bool upstream = false;
    bool split = false;

    // Stage computing_head: the crossing tensor of a split task.
    struct Head {
        std::vector<float> tensor;
        tierd_tensor view{};
        double ms = 0.0;
        double energy_j = -1.0;
    } head;

    // The local model's answer (stage inferring, or preparing with local_first).
    Outcome local;
    bool local_first = false; // `local` was computed before the scheduler decided
    double infer_ms = 0.0;
    double fuse_ms = -1.0; // the fusion plugin's fuse()/fuse_frame() call; < 0: none ran

    // Stage offloaded: the upstream tier's answer, or why it ran here instead.
    struct Offload {
        std::uint64_t sent_ns = 0;
        std::uint64_t deadline_ns = 0; // when the reply is given up
        std::size_t bytes_sent = 0;
        std::size_t bytes_received = 0; // the reply's payload
        double ms = 0.0;
        std::string device;     // the agent that answered
        std::string fallback;   // why it ran here although placed upstream
        int resend_regions = 0; // region re-send: regions sent in a second round
    } offload;
    Outcome remote;

    // Stage fusing.
    Outcome fused;

    std::string error; // set when the task failed; the result carries it

    // The answer the result reports: fused, else remote, else local.
    const tierd_inference_result &answer() const {
        return fused.ok ? fused.result : (remote.ok ? remote.result : local.result);
    }
    bool answered() const { return local.ok || remote.ok; }

    // Clears everything for reuse, keeping the buffers' memory.
    void reset() {
        stage = Stage::preparing;
        seq = 0;
        in = SourceImage{};
        plugins = PipelinePlugins{};
        task_id.clear();
        source.clear();
        stream.clear();
        thumbnail.clear();
        key_frame_copy = false;
        label_copy = false;
        jpeg_quality = 0;
        features = FeatureCompression::none;
        upstream_seen.ok = false;
        upstream_view = tierd_upstream_result{};
        have_upstream_view = false;
        upstream_unreachable = false;
        image = tierd_image{};
        task = tierd_task{};
        start_ns = 0;
        pre.result = tierd_preclass_result{};
        pre.ms = 0.0;
        pre.ok = false;
        decision = tierd_decision{};
        upstream = split = false;
        head.tensor.clear();
        head.view = tierd_tensor{};
        head.ms = 0.0;
        head.energy_j = -1.0;
        local.ok = remote.ok = fused.ok = false;
        local_first = false;
        infer_ms = 0.0;
        fuse_ms = -1.0;
        offload = Offload{};
        error.clear();
    }
};

using TaskPtr = std::unique_ptr<Task>;

} // namespace tierd
