// fusion-feature through its C ABI, with real parts: inference-opencv runs det-light on
// every frame and det-heavy on key frames (every K = 10, answered D = 3 frames late), both
// handing out their p8 feature maps, and the fusion head models/det-fusion.onnx fuses them,
// on a generated test clip (tierd-videogen, test split, seed 21, 80 frames). The fused boxes
// (feature fusion, then the tracked upstream boxes merged in, as the agents run it) must
// score a higher mAP@0.5 than det-light alone on the same frames. Then the corners:
// every frame answered, light-only without a map or with an expired answer, a map of the
// wrong shape refused without harm, a regions map (cells not sent are NaN) still fused.
#include "../plugins/plugin_harness.hpp"

#include "tools/eval/coco_evaluator.hpp"
#include "tools/eval/ground_truth_reader.hpp"

#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using plugin_test::Instance;
using plugin_test::Overrides;

constexpr int kFrames = 80;
constexpr int kKeyPeriod = 10;
constexpr int kDelay = 3;
constexpr double kFrameMs = 40.0;

// A task around a decoded BGR frame (borrowed), of stream `stream` when it is not NULL.
struct FrameTask {
    tierd_image image{};
    tierd_task task{};
    FrameTask(const cv::Mat &frame, const char *stream = nullptr, int64_t index = -1) {
        image = {sizeof(tierd_image),
                 TIERD_PIXEL_BGR8,
                 frame.cols,
                 frame.rows,
                 static_cast<int32_t>(frame.step[0]),
                 frame.data};
        task.struct_size = sizeof task;
        task.task_id = "t";
        task.source = stream ? stream : "test";
        task.image = &image;
        task.stream = stream;
        task.frame_index = index;
    }
};

// A detector's answer for one frame: its boxes and its feature map.
struct Detected {
    std::vector<tierd_detection> boxes;
    std::vector<float> map;
    int shape[3] = {0, 0, 0};
};

class FusionFeature : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("tierd-fusion-feature-" + std::to_string(getpid()));
        fs::create_directories(dir_);
        const std::string cmd = std::string(VIDEOGEN_PATH) + " --seed 21 --frames " +
                                std::to_string(kFrames) + " --out " + dir_.string() + " --quiet";
        if (std::system(cmd.c_str()) != 0) {
            setup_error_ = "failed: " + cmd;
            return;
        }
        cv::VideoCapture video((dir_ / "video.avi").string(), cv::CAP_FFMPEG);
        cv::Mat frame;
        while (video.read(frame))
            frames_.push_back(frame.clone());
        if (frames_.size() != kFrames) {
            setup_error_ = "decoded " + std::to_string(frames_.size()) + " frames";
            return;
        }
        truth_ = tierd::eval::read_ground_truth((dir_ / "gt.json").string());
        // The detectors, as the end and the edge run them (score >= 0.05 as mAP wants).
        plugin_test::Library inference(INFERENCE_OPENCV_PATH);
        if (!inference.ok()) {
            setup_error_ = inference.error();
            return;
        }
        for (const char *model : {"det-light", "det-heavy"}) {
            Instance inst(inference.descriptor(),
                          {{"manifest", std::string(ZOO_MODELS_DIR) + "/manifest.toml"},
                           {"models", model},
                           {"score_threshold", "0.05"}});
            if (inst.create_rc() != TIERD_OK) {
                setup_error_ = inst.host().last_error;
                return;
            }
            auto &out = std::string(model) == "det-light" ? light_ : heavy_;
            for (int n = 0; n < kFrames; ++n) {
                if (std::string(model) == "det-heavy" && n % kKeyPeriod != 0) {
                    out.emplace_back();
                    continue;
                }
                out.push_back(detect(inst, frames_[n]));
                if (out.back().map.empty()) {
                    setup_error_ = std::string(model) + ": no feature map";
                    return;
                }
            }
        }
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    void SetUp() override {
        ASSERT_EQ(setup_error_, "");
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
    }

    static Detected detect(Instance &inst, const cv::Mat &frame) {
        Detected d;
        FrameTask t(frame);
        std::vector<tierd_detection> boxes(100);
        std::vector<float> map(256 * 1024);
        tierd_tensor features{};
        features.struct_size = sizeof features;
        features.data = map.data();
        features.capacity = static_cast<uint32_t>(map.size());
        float scores[4];
        tierd_inference_result r{};
        r.struct_size = sizeof r;
        r.scores = scores;
        r.score_capacity = 4;
        r.detections = boxes.data();
        r.detection_capacity = 100;
        r.features = &features;
        if (inst.ops<tierd_inference_ops>()->infer(inst.get(), &t.task, "", &r) != TIERD_OK)
            return d;
        d.boxes.assign(boxes.begin(), boxes.begin() + r.detection_count);
        map.resize(features.count);
        d.map = std::move(map);
        for (int i = 0; i < 3; ++i)
            d.shape[i] = features.shape[i];
        return d;
    }

    static tierd_inference_result result_of(Detected &d, tierd_tensor &view, const char *model) {
        tierd_inference_result r{};
        r.struct_size = sizeof r;
        r.top_class = -1;
        std::snprintf(r.model, sizeof r.model, "%s", model);
        r.detections = d.boxes.data();
        r.detection_capacity = r.detection_count = static_cast<uint32_t>(d.boxes.size());
        r.image_width = 640;
        r.image_height = 360;
        if (!d.map.empty()) {
            view = tierd_tensor{};
            view.struct_size = sizeof view;
            view.rank = 3;
            for (int i = 0; i < 3; ++i)
                view.shape[i] = d.shape[i];
            view.data = d.map.data();
            view.count = view.capacity = static_cast<uint32_t>(d.map.size());
            r.features = &view;
        }
        return r;
    }

    // fuse_frame() on frame n with det-light's answer and, when `key` >= 0, that key
    // frame's det-heavy answer (or `upstream_override`), `age_ms` old.
    int fuse(Instance &inst, int64_t n, int64_t key, double age_ms,
             Detected *upstream_override = nullptr, bool with_local = true) {
        FrameTask t(frames_.at(n), "cam", n);
        tierd_tensor light_view, heavy_view;
        tierd_inference_result local = result_of(light_[n], light_view, "det-light");
        Detected *answer = upstream_override ? upstream_override
                           : key >= 0        ? &heavy_[key]
                                             : nullptr;
        tierd_inference_result remote{};
        tierd_upstream_result up{};
        if (answer) {
            remote = result_of(*answer, heavy_view, "det-heavy");
            up.struct_size = sizeof up;
            up.result = &remote;
            up.frame_index = key;
            up.tier = TIERD_TIER_EDGE;
            up.age_ms = age_ms;
            up.sequence =
                static_cast<uint64_t>(key / kKeyPeriod + 1) + (upstream_override ? 1000 : 0);
        }
        out_boxes_.assign(104, tierd_detection{0, 0, 0, 0, 99, -1.0f, 99, 99});
        out_ = tierd_inference_result{};
        out_.struct_size = sizeof out_;
        out_.scores = scores_;
        out_.score_capacity = 4;
        out_.detections = out_boxes_.data();
        out_.detection_capacity = 100;
        out_.warp_error = -1; // as the host sets it (ABI 1.6): not measured
        return inst.ops<tierd_fusion_ops>()->fuse_frame(
            inst.get(), &t.task, with_local ? &local : nullptr, answer ? &up : nullptr, &out_);
    }
    std::vector<tierd_detection> boxes() const {
        return {out_boxes_.begin(), out_boxes_.begin() + out_.detection_count};
    }
    // Frames first..last with no answer yet, as the host hands them over: the plugin keeps
    // them for the flow back to a key frame.
    void play(Instance &inst, int64_t first, int64_t last) {
        for (int64_t n = first; n <= last; ++n)
            ASSERT_EQ(fuse(inst, n, -1, 0.0), TIERD_OK);
    }

    static void append(std::vector<tierd::eval::Detection> &to, int64_t n,
                       const std::vector<tierd_detection> &boxes) {
        for (const tierd_detection &b : boxes)
            to.push_back({n, b.class_id + 1, {b.x, b.y, b.width, b.height}, b.score});
    }
    static double map50(const std::vector<tierd::eval::Detection> &dets) {
        tierd::eval::GroundTruth truth = truth_; // the frames after the first answer
        std::erase_if(truth.image_ids, [](std::int64_t id) { return id < kDelay; });
        std::erase_if(truth.objects, [](const auto &o) { return o.image_id < kDelay; });
        return tierd::eval::evaluate_coco(truth, dets).summary.ap50;
    }
    // The plugin as the agents run it; `merge_boxes` false: the fused boxes alone (no
    // tracked upstream boxes merged in), so that a light-only frame is exactly det-light's.
    static Overrides config(bool merge_boxes = true) {
        return {{"model", std::string(ZOO_MODELS_DIR) + "/det-fusion.onnx"},
                {"score_threshold", "0.05"},
                {"merge_boxes", merge_boxes ? "true" : "false"},
                {"threads", "1"}};
    }

    static inline fs::path dir_;
    static inline std::string setup_error_;
    static inline std::vector<cv::Mat> frames_;
    static inline tierd::eval::GroundTruth truth_;
    static inline std::vector<Detected> light_, heavy_;

    plugin_test::Library lib_{FUSION_FEATURE_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    std::vector<tierd_detection> out_boxes_;
    float scores_[4] = {};
    tierd_inference_result out_{};
};

TEST_F(FusionFeature, FusedFeaturesBeatTheLightDetectorAlone) {
    Instance inst(d_, config());
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    std::vector<tierd::eval::Detection> fused, light;
    double warp_near = 0, warp_far = 0; // ABI 1.6's warp error, kDelay and kKeyPeriod+ frames on
    int near_count = 0, far_count = 0;
    for (int64_t n = 0; n < kFrames; ++n) {
        const int64_t key = n >= kDelay ? ((n - kDelay) / kKeyPeriod) * kKeyPeriod : -1;
        ASSERT_EQ(fuse(inst, n, key, static_cast<double>(n - key) * kFrameMs), TIERD_OK)
            << inst.host().last_error;
        EXPECT_EQ(out_.image_width, 640);
        if (n < kDelay) {
            // Nothing has arrived: the frame's answer is det-light's own boxes, and there
            // is no warp error to report.
            EXPECT_EQ(out_.detection_count, light_[n].boxes.size());
            EXPECT_EQ(out_.warp_error, -1);
            continue;
        }
        ASSERT_GE(out_.warp_error, 0) << n;
        ASSERT_LE(out_.warp_error, 1) << n;
        if (n - key == kDelay) {
            warp_near += out_.warp_error;
            ++near_count;
        } else if (n - key >= kKeyPeriod) {
            warp_far += out_.warp_error;
            ++far_count;
        }
        append(fused, n, boxes());
        append(light, n, light_[n].boxes);
    }
    // Carried further, the answer fits the frame less (the policy's signal).
    ASSERT_GT(near_count, 0);
    ASSERT_GT(far_count, 0);
    EXPECT_GT(warp_far / far_count, warp_near / near_count);
    EXPECT_EQ(inst.host().counters["frames_fused"], kFrames - kDelay);
    const double fused_map = map50(fused), light_map = map50(light);
    RecordProperty("map50_fused", std::to_string(fused_map));
    RecordProperty("map50_light", std::to_string(light_map));
    std::printf("mAP@0.5 on frames %d-%d: feature fusion %.3f, det-light alone %.3f\n", kDelay,
                kFrames - 1, fused_map, light_map);
    EXPECT_GT(fused_map, light_map + 0.02);
}

TEST_F(FusionFeature, WithoutAMapOrWithAnExpiredAnswerTheFrameIsLightOnly) {
    Instance inst(d_, config(/*merge_boxes=*/false));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    play(inst, 0, 4);
    // An answer with boxes but no map.
    Detected boxes_only = heavy_[0];
    boxes_only.map.clear();
    ASSERT_EQ(fuse(inst, 5, 0, 200.0, &boxes_only), TIERD_OK);
    EXPECT_EQ(inst.host().counters["frames_no_upstream_map"], 1.0);
    ASSERT_EQ(out_.detection_count, light_[5].boxes.size());
    EXPECT_EQ(out_boxes_[0].score, light_[5].boxes[0].score);
    // A fresh answer with a map is fused; the same answer past max_age_ms is not.
    ASSERT_EQ(fuse(inst, 6, 0, 240.0), TIERD_OK);
    EXPECT_EQ(inst.host().counters["frames_fused"], 1.0);
    ASSERT_EQ(fuse(inst, 7, 0, 2500.0), TIERD_OK);
    EXPECT_EQ(inst.host().counters["frames_answer_expired"], 1.0);
    EXPECT_EQ(out_.detection_count, light_[7].boxes.size());
    // No local result (a frame answered upstream itself): its own answer's boxes.
    ASSERT_EQ(fuse(inst, 10, 10, 0.0, nullptr, /*with_local=*/false), TIERD_OK);
    EXPECT_EQ(out_.detection_count, heavy_[10].boxes.size());
    // Neither a local result nor an answer (the frame's work failed everywhere): still
    // answered, with nothing to show.
    ASSERT_EQ(fuse(inst, 11, -1, 0.0, nullptr, /*with_local=*/false), TIERD_OK);
    EXPECT_EQ(out_.detection_count, 0u);
    // No head configured: every frame light-only, and said so once.
    Instance none(d_, {{"model", ""}, {"merge_boxes", "false"}});
    ASSERT_EQ(none.create_rc(), TIERD_OK);
    play(none, 0, 4);
    ASSERT_EQ(fuse(none, 5, 0, 200.0), TIERD_OK);
    EXPECT_EQ(none.host().counters["frames_no_head"], 6.0);
    EXPECT_EQ(out_.detection_count, light_[5].boxes.size());
}

TEST_F(FusionFeature, AMapOfTheWrongShapeIsRefusedWithoutHarm) {
    Instance inst(d_, config(/*merge_boxes=*/false));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    play(inst, 0, 3);
    Detected wrong = heavy_[0];
    wrong.shape[0] = 32; // half the channels the head was trained on
    wrong.map.resize(static_cast<std::size_t>(32) * wrong.shape[1] * wrong.shape[2]);
    ASSERT_EQ(fuse(inst, 4, 0, 160.0, &wrong), TIERD_OK);
    EXPECT_EQ(inst.host().counters["fusion_errors"], 1.0);
    EXPECT_EQ(out_.detection_count, light_[4].boxes.size());
    // The next proper answer is fused as if nothing had happened.
    ASSERT_EQ(fuse(inst, 5, 0, 200.0), TIERD_OK);
    EXPECT_EQ(inst.host().counters["frames_fused"], 1.0);
}

TEST_F(FusionFeature, ARegionsMapWithCellsNotSentIsFused) {
    Instance inst(d_, config());
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    play(inst, 0, 2);
    // det-heavy's map of key frame 0 with only its left half sent.
    Detected half = heavy_[0];
    const int c = half.shape[0], h = half.shape[1], w = half.shape[2];
    for (int k = 0; k < c; ++k)
        for (int y = 0; y < h; ++y)
            for (int x = w / 2; x < w; ++x)
                half.map[(static_cast<std::size_t>(k) * h + y) * w + x] =
                    std::numeric_limits<float>::quiet_NaN();
    ASSERT_EQ(fuse(inst, 3, 0, 120.0, &half), TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(inst.host().counters["frames_fused"], 1.0);
    ASSERT_GT(out_.detection_count, 0u);
    for (const tierd_detection &b : boxes()) {
        EXPECT_TRUE(std::isfinite(b.x) && std::isfinite(b.score));
        EXPECT_GE(b.score, 0.0f);
        EXPECT_LE(b.score, 1.0f);
    }
}

} // namespace
