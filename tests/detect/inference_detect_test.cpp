// inference-opencv running det-light from models/manifest.toml's [[detector]] tables
// (ABI 1.4): boxes land in the host's detection buffer in the task image's pixels, the
// buffer's capacity is respected (the best ones kept), an older result struct is refused,
// and classifiers are untouched. The frames come from a real test video: tierd-videogen
// (test split, seed 7) writes it into a temporary folder at the start.
#include "../plugins/plugin_harness.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using plugin_test::Instance;
using plugin_test::Overrides;
using plugin_test::TaskImage;

constexpr int kFrames = 10;

class InferenceDetect : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("tierd-detect-" + std::to_string(getpid()));
        fs::create_directories(dir_);
        const std::string cmd = std::string(VIDEOGEN_PATH) + " --seed 7 --frames " +
                                std::to_string(kFrames) + " --out " + dir_.string() + " --quiet";
        if (std::system(cmd.c_str()) != 0) {
            setup_error_ = "failed: " + cmd;
            return;
        }
        cv::VideoCapture video((dir_ / "video.avi").string(), cv::CAP_FFMPEG);
        cv::Mat frame;
        while (video.read(frame))
            frames_.push_back(frame.clone());
        if (frames_.size() != kFrames)
            setup_error_ = "decoded " + std::to_string(frames_.size()) + " frames";
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

    static Overrides detector_config(const std::string &models = "det-light") {
        return {{"manifest", std::string(ZOO_MODELS_DIR) + "/manifest.toml"},
                {"models", models},
                {"score_threshold", "0.3"}};
    }

    // infer() on frame `index` (BGR bytes as decoded) with a detection buffer of
    // `capacity`; the result struct is `struct_size` bytes as the host declares it.
    int infer(Instance &inst, const cv::Mat &frame, uint32_t capacity,
              uint32_t struct_size = sizeof(tierd_inference_result), const char *model = "") {
        pixels_.assign(frame.data, frame.data + frame.total() * frame.elemSize());
        task_ = std::make_unique<TaskImage>(pixels_, frame.cols, frame.rows, TIERD_PIXEL_BGR8);
        dets_.assign(capacity + 4, tierd_detection{0, 0, 0, 0, 99, -1.0f, 99, 99});
        scores_.assign(16, -1.0f);
        out_ = tierd_inference_result{};
        out_.struct_size = struct_size;
        out_.scores = scores_.data();
        out_.score_capacity = 16;
        out_.detections = dets_.data();
        out_.detection_capacity = capacity;
        return inst.ops<tierd_inference_ops>()->infer(inst.get(), &task_->task, model, &out_);
    }

    static inline fs::path dir_;
    static inline std::string setup_error_;
    static inline std::vector<cv::Mat> frames_;

    plugin_test::Library lib_{INFERENCE_OPENCV_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    std::vector<uint8_t> pixels_;
    std::unique_ptr<TaskImage> task_;
    std::vector<tierd_detection> dets_;
    std::vector<float> scores_;
    tierd_inference_result out_{};
};

TEST_F(InferenceDetect, BoxesAreWrittenInTheImagePixels) {
    Instance inst(d_, detector_config());
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    std::size_t total = 0;
    for (const cv::Mat &frame : frames_) {
        ASSERT_EQ(infer(inst, frame, 100), TIERD_OK) << inst.host().last_error;
        EXPECT_EQ(out_.image_width, 640);
        EXPECT_EQ(out_.image_height, 360);
        EXPECT_EQ(out_.score_count, 0u);
        EXPECT_EQ(out_.top_class, -1);
        EXPECT_STREQ(out_.model, "det-light");
        ASSERT_LE(out_.detection_count, 100u);
        for (uint32_t k = 0; k < out_.detection_count; ++k) {
            const tierd_detection &d = dets_[k];
            EXPECT_GE(d.x, 0.0f);
            EXPECT_GE(d.y, 0.0f);
            EXPECT_GT(d.width, 0.0f);
            EXPECT_GT(d.height, 0.0f);
            EXPECT_LE(d.x + d.width, 640.0f + 1e-3f);
            EXPECT_LE(d.y + d.height, 360.0f + 1e-3f);
            EXPECT_GE(d.class_id, 0);
            EXPECT_LT(d.class_id, 10);
            EXPECT_GE(d.score, 0.3f);
            EXPECT_EQ(d.track_id, -1);
            EXPECT_EQ(d.flags, 0u);
            if (k > 0) {
                EXPECT_GE(dets_[k - 1].score, d.score);
            }
        }
        EXPECT_FLOAT_EQ(out_.top_score, out_.detection_count ? dets_[0].score : 0.0f);
        EXPECT_EQ(dets_[out_.detection_count].class_id, 99) << "wrote past detection_count";
        total += out_.detection_count;
    }
    // Seed 7's first frames hold 2-5 counted objects each; det-light finds some of them.
    EXPECT_GE(total, static_cast<std::size_t>(kFrames));
}

TEST_F(InferenceDetect, AFrameTwiceAsLargeGivesBoxesTwiceAsLarge) {
    Instance inst(d_, detector_config());
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    ASSERT_EQ(infer(inst, frames_[0], 100), TIERD_OK) << inst.host().last_error;
    const std::vector<tierd_detection> small(dets_.begin(), dets_.begin() + out_.detection_count);
    ASSERT_FALSE(small.empty());
    cv::Mat big;
    cv::resize(frames_[0], big, cv::Size(1280, 720), 0, 0, cv::INTER_LINEAR);
    ASSERT_EQ(infer(inst, big, 100), TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(out_.image_width, 1280);
    EXPECT_EQ(out_.image_height, 720);
    // The network sees nearly the same pixels; the best box must be twice the size and
    // place (within a few pixels: the two resizes round differently).
    ASSERT_GE(out_.detection_count, 1u);
    EXPECT_EQ(dets_[0].class_id, small[0].class_id);
    EXPECT_NEAR(dets_[0].x, 2 * small[0].x, 6.0f);
    EXPECT_NEAR(dets_[0].y, 2 * small[0].y, 6.0f);
    EXPECT_NEAR(dets_[0].width, 2 * small[0].width, 6.0f);
    EXPECT_NEAR(dets_[0].height, 2 * small[0].height, 6.0f);
}

TEST_F(InferenceDetect, TheBufferKeepsTheBestWhenFull) {
    Overrides config = detector_config();
    config["score_threshold"] = "0.05"; // many boxes
    Instance inst(d_, config);
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    ASSERT_EQ(infer(inst, frames_[0], 100), TIERD_OK) << inst.host().last_error;
    ASSERT_GT(out_.detection_count, 3u);
    const std::vector<tierd_detection> all(dets_.begin(), dets_.begin() + out_.detection_count);
    ASSERT_EQ(infer(inst, frames_[0], 3), TIERD_OK) << inst.host().last_error;
    ASSERT_EQ(out_.detection_count, 3u);
    for (int k = 0; k < 3; ++k) {
        EXPECT_EQ(dets_[k].class_id, all[k].class_id);
        EXPECT_FLOAT_EQ(dets_[k].score, all[k].score);
        EXPECT_FLOAT_EQ(dets_[k].x, all[k].x);
    }
    EXPECT_EQ(dets_[3].class_id, 99) << "wrote past the capacity";
    // No buffer (the host wants none): no detections, still a result.
    ASSERT_EQ(infer(inst, frames_[0], 0), TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(out_.detection_count, 0u);
}

// Asked for features (ABI 1.4 `features`), a detector hands out its manifest's feature
// layer — det-light's p8 map, [64, 22, 40] — beside the very boxes it gives without them;
// a buffer too small gets TIERD_ERANGE with the count it needs.
TEST_F(InferenceDetect, FeaturesAreTheManifestsLayerWhenAsked) {
    Instance inst(d_, detector_config());
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    ASSERT_EQ(infer(inst, frames_[3], 100), TIERD_OK) << inst.host().last_error;
    const std::vector<tierd_detection> plain(dets_.begin(), dets_.begin() + out_.detection_count);

    std::vector<float> map(64 * 22 * 40, -1.0f);
    tierd_tensor features{};
    features.struct_size = sizeof features;
    features.data = map.data();
    features.capacity = static_cast<uint32_t>(map.size());
    pixels_.assign(frames_[3].data, frames_[3].data + frames_[3].total() * 3);
    task_ = std::make_unique<TaskImage>(pixels_, 640, 360, TIERD_PIXEL_BGR8);
    out_.detection_count = 0;
    out_.features = &features;
    ASSERT_EQ(inst.ops<tierd_inference_ops>()->infer(inst.get(), &task_->task, "", &out_), TIERD_OK)
        << inst.host().last_error;
    ASSERT_EQ(out_.detection_count, plain.size());
    for (std::size_t k = 0; k < plain.size(); ++k)
        EXPECT_EQ(dets_[k].score, plain[k].score);
    EXPECT_EQ(features.rank, 3u);
    EXPECT_EQ(features.shape[0], 64);
    EXPECT_EQ(features.shape[1], 22);
    EXPECT_EQ(features.shape[2], 40);
    EXPECT_EQ(features.count, map.size());
    // A ReLU map: every value >= 0, finite, and not all zero.
    EXPECT_TRUE(
        std::all_of(map.begin(), map.end(), [](float v) { return std::isfinite(v) && v >= 0.0f; }));
    EXPECT_GT(*std::max_element(map.begin(), map.end()), 0.0f);

    features.capacity = 100;
    features.count = 0;
    EXPECT_EQ(inst.ops<tierd_inference_ops>()->infer(inst.get(), &task_->task, "", &out_),
              TIERD_ERANGE);
    EXPECT_EQ(features.count, map.size());
}

TEST_F(InferenceDetect, AnOlderResultStructIsRefused) {
    Instance inst(d_, detector_config());
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    // A 1.3 host's struct ends before the detection fields. Today the SDK's wrapper
    // (tierd/plugin.hpp) refuses any result smaller than the plugin's own struct with
    // TIERD_EINVAL before the plugin runs; the plugin itself would answer TIERD_ENOTSUP.
    // Either way: refused, and nothing written where the old host has no buffer.
    const auto old_size = static_cast<uint32_t>(offsetof(tierd_inference_result, detections));
    const int rc = infer(inst, frames_[0], 100, old_size);
    EXPECT_TRUE(rc == TIERD_EINVAL || rc == TIERD_ENOTSUP) << rc;
    EXPECT_FALSE(inst.host().last_error.empty());
    EXPECT_EQ(dets_[0].class_id, 99) << "wrote into a buffer an old host does not have";
}

// A manifest naming a features layer the network does not have is refused when the
// detector loads, with the detector, the layer and the file in the error.
TEST_F(InferenceDetect, AFeaturesLayerThatIsNotThereIsRefused) {
    std::ifstream in(std::string(ZOO_MODELS_DIR) + "/manifest.toml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string good = "features = \"onnx_node!/fuse8/fuse8.2/Relu\"";
    const auto at = text.find(good);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, good.size(), "features = \"no-such-layer\"");
    const fs::path dir = dir_ / "bad-features";
    fs::create_directories(dir);
    fs::create_symlink(fs::path(ZOO_MODELS_DIR) / "det-light.onnx", dir / "det-light.onnx");
    std::ofstream(dir / "manifest.toml") << text;
    Instance inst(d_, {{"manifest", (dir / "manifest.toml").string()}, {"models", "det-light"}});
    EXPECT_NE(inst.create_rc(), TIERD_OK);
    EXPECT_NE(inst.host().last_error.find("det-light"), std::string::npos)
        << inst.host().last_error;
    EXPECT_NE(inst.host().last_error.find("no-such-layer"), std::string::npos)
        << inst.host().last_error;
}

TEST_F(InferenceDetect, DetectorsLoadOnlyWhenNamed) {
    // The manifest with no `models`: every classifier, no detector (as before detectors).
    Instance all(d_, {{"manifest", std::string(ZOO_MODELS_DIR) + "/manifest.toml"}});
    ASSERT_EQ(all.create_rc(), TIERD_OK) << all.host().last_error;
    const char *desc = all.ops<tierd_inference_ops>()->describe
                           ? all.ops<tierd_inference_ops>()->describe(all.get())
                           : nullptr;
    ASSERT_NE(desc, nullptr);
    EXPECT_EQ(std::string(desc).find("det-"), std::string::npos) << desc;
    EXPECT_EQ(std::string(desc).find("\"kind\""), std::string::npos) << desc;

    // A classifier and a detector side by side: each answers in its own way.
    Instance both(d_, detector_config("cnn-xs,det-light"));
    ASSERT_EQ(both.create_rc(), TIERD_OK) << both.host().last_error;
    desc = both.ops<tierd_inference_ops>()->describe(both.get());
    EXPECT_NE(std::string(desc).find("\"kind\":\"detector\""), std::string::npos) << desc;
    cv::Mat gray(28, 28, CV_8UC3, cv::Scalar(90, 90, 90));
    ASSERT_EQ(infer(both, gray, 100), TIERD_OK) << both.host().last_error; // default: cnn-xs
    EXPECT_EQ(out_.score_count, 10u);
    EXPECT_GE(out_.top_class, 0);
    EXPECT_EQ(out_.detection_count, 0u);
}

// The pruned light detector (models/compressed/detect, docs/compression.md) is served like
// any [[detector]]: by name, beside its parent, its boxes in the frame's pixels. Scored
// against the clip's ground truth (same class, IoU >= 0.5), its boxes are right at least as
// often as its parent's (it measured 0.93 mAP@0.5 on this clip's first 50 frames, det-light
// 0.52). Without a features layer in the manifest, asked for features it gives its boxes
// and an empty map.
TEST_F(InferenceDetect, ThePrunedDetectorIsServedBesideItsParent) {
    std::ifstream gt_file(dir_ / "gt.json");
    const auto gt = nlohmann::json::parse(gt_file);
    std::vector<std::vector<tierd_detection>> truth(kFrames);
    for (const auto &a : gt.at("annotations")) {
        const int frame = a.at("image_id").get<int>();
        if (frame < kFrames && a.at("iscrowd").get<int>() == 0) {
            const auto &b = a.at("bbox");
            truth[frame].push_back(tierd_detection{
                b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>(),
                a.at("category_id").get<int>() - 1, 1.0f, -1, 0});
        }
    }
    auto iou = [](const tierd_detection &a, const tierd_detection &b) {
        const float x1 = std::max(a.x, b.x), y1 = std::max(a.y, b.y);
        const float x2 = std::min(a.x + a.width, b.x + b.width);
        const float y2 = std::min(a.y + a.height, b.y + b.height);
        const float inter = std::max(0.0f, x2 - x1) * std::max(0.0f, y2 - y1);
        return inter / (a.width * a.height + b.width * b.height - inter);
    };
    Instance inst(d_, detector_config("det-light,det-light-p40"));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    // boxes and right boxes per detector over the clip's frames
    std::size_t boxes[2] = {0, 0}, right[2] = {0, 0};
    const char *names[2] = {"det-light", "det-light-p40"};
    for (int f = 0; f < kFrames; ++f) {
        for (int m = 0; m < 2; ++m) {
            ASSERT_EQ(infer(inst, frames_[f], 100, sizeof(tierd_inference_result), names[m]),
                      TIERD_OK)
                << inst.host().last_error;
            EXPECT_STREQ(out_.model, names[m]);
            EXPECT_EQ(out_.image_width, 640);
            for (uint32_t k = 0; k < out_.detection_count; ++k) {
                const tierd_detection &d = dets_[k];
                EXPECT_GE(d.score, 0.3f);
                EXPECT_LE(d.x + d.width, 640.0f + 1e-3f);
                EXPECT_LE(d.y + d.height, 360.0f + 1e-3f);
                right[m] +=
                    std::any_of(truth[f].begin(), truth[f].end(), [&](const tierd_detection &t) {
                        return t.class_id == d.class_id && iou(t, d) >= 0.5f;
                    });
            }
            boxes[m] += out_.detection_count;
        }
    }
    EXPECT_GE(boxes[1], static_cast<std::size_t>(kFrames));
    // right[1] / boxes[1] >= right[0] / boxes[0], without division
    EXPECT_GE(right[1] * boxes[0], right[0] * boxes[1])
        << "det-light-p40 " << right[1] << " of " << boxes[1] << " right, det-light " << right[0]
        << " of " << boxes[0];
    EXPECT_GE(right[1], right[0]);

    std::vector<float> map(64 * 22 * 40, -1.0f);
    tierd_tensor features{};
    features.struct_size = sizeof features;
    features.data = map.data();
    features.capacity = static_cast<uint32_t>(map.size());
    features.count = 7;
    pixels_.assign(frames_[3].data, frames_[3].data + frames_[3].total() * 3);
    task_ = std::make_unique<TaskImage>(pixels_, 640, 360, TIERD_PIXEL_BGR8);
    out_.features = &features;
    ASSERT_EQ(
        inst.ops<tierd_inference_ops>()->infer(inst.get(), &task_->task, "det-light-p40", &out_),
        TIERD_OK)
        << inst.host().last_error;
    EXPECT_EQ(features.count, 0u);
    EXPECT_GT(out_.detection_count, 0u);
}

} // namespace
