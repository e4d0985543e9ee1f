// A detector's unsupervised adaptation and its judge (issue 18, detection;
// docs/adaptation.md, "Detectors"): the teacher's key frames kept on the device
// (teacher_frames.hpp), a detector's agreement with them (AP@0.5 through tierd-eval's
// evaluator), the prediction convolutions left out of recalibration, and the judge that
// keeps a broken adaptation out — on det-light and real tierd-videogen frames.
#include "channel_recalibration.hpp"
#include "teacher_frames.hpp"
#include "teacher_judge.hpp"

#include "tests/support/program_run.hpp"

#include <gtest/gtest.h>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace {

using inference_opencv::DetectionBox;
using inference_opencv::RecalibratableModel;
using inference_opencv::TeacherFrame;
using inference_opencv::TeacherFrames;
using inference_opencv::TeacherJudge;
using Verdict = inference_opencv::OnlineRecalibration::Verdict;

const cv::Size kInput(320, 176); // det-light's (models/manifest.toml)
const std::string kDetLight = std::string(TIERD_MODELS_DIR) + "/det-light.onnx";

cv::Mat blob_of(const cv::Mat &image) {
    return cv::dnn::blobFromImage(image, 1.0 / 255.0, kInput, cv::Scalar(), false, false, CV_32F);
}

// det-light's own boxes for `image` (at the input size).
std::vector<DetectionBox> detect(cv::dnn::Net &net, const cv::Mat &image) {
    std::vector<cv::Mat> out;
    net.setInput(blob_of(image));
    net.forward(out, std::vector<std::string>{"heatmap", "box"});
    return inference_opencv::decode_detections(out[0], out[1], kInput, kInput, {0.05f, 0.5f, 100});
}

// Frames of a real generated clip (test split), at det-light's input size; once per run.
class DetectorAdaptation : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        tierd::test_support::TempDir dir("detector-adapt");
        const auto clip = (dir.path / "clip").string();
        const auto gen = tierd::test_support::run_program(
            TIERD_VIDEOGEN_PATH, {"--seed", "3", "--frames", "60", "--out", clip, "-q"});
        ASSERT_EQ(gen.exit_status, 0) << gen.err;
        cv::VideoCapture video(clip + "/video.avi");
        cv::Mat frame;
        while (video.read(frame)) {
            cv::Mat resized;
            cv::resize(frame, resized, kInput);
            frames_->push_back(resized);
        }
        ASSERT_EQ(frames_->size(), 60u);
    }
    static const std::vector<cv::Mat> &frames() { return *frames_; }

    // Teacher frames whose "teacher" is det-light itself (so its agreement is known: 1).
    std::vector<TeacherFrame> self_taught(int count, int step = 3) {
        cv::dnn::Net net = model_.build();
        std::vector<TeacherFrame> out;
        for (int i = 0; i < count; ++i) {
            const cv::Mat &image = frames()[static_cast<std::size_t>(i * step)];
            out.push_back({image, detect(net, image), "det-heavy"});
        }
        return out;
    }

    RecalibratableModel model_{kDetLight};
    static inline std::unique_ptr<std::vector<cv::Mat>> frames_ =
        std::make_unique<std::vector<cv::Mat>>();
};

TEST_F(DetectorAdaptation, ThePredictionConvolutionsAreNotRecalibrated) {
    // det-light has 13 convolutions; the heatmap's and the box's last 1x1 (no BatchNorm
    // in training) feed the outputs through a Sigmoid or nothing.
    const auto &convs = model_.convolutions();
    EXPECT_EQ(convs.size(), 11u);
    for (const auto &name : convs) {
        EXPECT_EQ(name.find("hm.1"), std::string::npos) << name;
        EXPECT_EQ(name.find("box.1"), std::string::npos) << name;
    }
    EXPECT_NE(std::find(convs.begin(), convs.end(), "onnx_node!/head/hm/hm.0/hm.0.0/Conv"),
              convs.end());
}

TEST_F(DetectorAdaptation, TeacherFramesKeepTheLatestWithTheirBoxesScaled) {
    TeacherFrames kept(3);
    const cv::Mat frame(360, 640, CV_8UC3, cv::Scalar(10, 20, 30));
    const DetectionBox box{64, 36, 128, 72, 4, 0.9f};
    EXPECT_FALSE(kept.add(cv::Mat(), {640, 360}, {box}, kInput));
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(kept.add(frame, {640, 360}, {box}, kInput, "m" + std::to_string(i)));
    EXPECT_EQ(kept.size(), 3u);
    EXPECT_EQ(kept.seen(), 5u);
    const auto snapshot = kept.snapshot();
    ASSERT_EQ(snapshot.size(), 3u);
    EXPECT_EQ(snapshot[0].teacher_model, "m2"); // oldest first
    EXPECT_EQ(snapshot[2].teacher_model, "m4");
    EXPECT_EQ(snapshot[0].image.size(), kInput);
    const DetectionBox &b = snapshot[0].boxes.at(0);
    EXPECT_FLOAT_EQ(b.x, 32.0f); // 640x360 -> 320x176
    EXPECT_FLOAT_EQ(b.width, 64.0f);
    EXPECT_NEAR(b.y, 36.0f * 176.0f / 360.0f, 1e-4);
    EXPECT_EQ(b.class_id, 4);
}

TEST_F(DetectorAdaptation, ADetectorAgreesFullyWithItsOwnBoxesAndNotWithMovedOnes) {
    const auto frames_with_boxes = self_taught(12);
    std::size_t labels = 0;
    for (const auto &f : frames_with_boxes)
        labels += static_cast<std::size_t>(std::count_if(
            f.boxes.begin(), f.boxes.end(), [](const DetectionBox &b) { return b.score >= 0.3f; }));
    ASSERT_GE(labels, 5u) << "the clip should show det-light some objects";
    cv::dnn::Net net = model_.build();
    EXPECT_NEAR(inference_opencv::detection_agreement(net, frames_with_boxes, blob_of), 1.0, 1e-6);
    // The same boxes moved by half their size: no longer where the detector finds them.
    auto moved = frames_with_boxes;
    for (auto &f : moved)
        for (auto &b : f.boxes)
            b.x += b.width * 0.6f;
    EXPECT_LT(inference_opencv::detection_agreement(net, moved, blob_of), 0.3);
    // No box above the floor: nothing to measure recall on.
    auto unsure = frames_with_boxes;
    for (auto &f : unsure)
        for (auto &b : f.boxes)
            b.score = 0.1f;
    EXPECT_EQ(inference_opencv::detection_agreement(net, unsure, blob_of), -1.0);
}

TEST_F(DetectorAdaptation, BoxesTheTeacherIsUnsureOfCountNeitherWay) {
    // The teacher's best box of each frame made unsure (score 0.2, in the middle band):
    // the detector's box there is ignored, and it agrees fully with the rest...
    auto frames_with_boxes = self_taught(12);
    auto dropped = frames_with_boxes;
    for (std::size_t i = 0; i < frames_with_boxes.size(); ++i) {
        if (frames_with_boxes[i].boxes.size() < 2)
            continue;
        frames_with_boxes[i].boxes[0].score = 0.2f; // boxes come best first
        dropped[i].boxes.erase(dropped[i].boxes.begin());
    }
    cv::dnn::Net net = model_.build();
    EXPECT_NEAR(inference_opencv::detection_agreement(net, frames_with_boxes, blob_of), 1.0, 1e-6);
    // ... while a teacher that saw nothing there makes the same box a false positive (of
    // a class with labels elsewhere: as in COCO mAP, a class without any is not scored).
    EXPECT_LT(inference_opencv::detection_agreement(net, dropped, blob_of), 1.0 - 1e-3);
}

TEST_F(DetectorAdaptation, TheJudgeKeepsABrokenAdaptationOutAndLetsAHarmlessOneIn) {
    auto kept = std::make_shared<std::vector<TeacherFrame>>(self_taught(12));
    TeacherJudge judge(
        std::make_shared<RecalibratableModel>(kDetLight),
        [kept] {
            TeacherJudge::Labels labels;
            labels.count = kept->size();
            labels.noun = "teacher key frames";
            labels.agreement = [kept](cv::dnn::Net &net) {
                return inference_opencv::detection_agreement(net, *kept, blob_of);
            };
            return labels;
        },
        4);
    // The first convolution's output scaled to nothing: the detector sees a blank world.
    inference_opencv::Adaptation broken;
    const std::string first = model_.convolutions().front();
    broken.channels[first] = {std::vector<float>(16, 0.0f), std::vector<float>(16, 0.0f)};
    std::string why;
    EXPECT_EQ(judge(broken, why), Verdict::keep) << why;
    EXPECT_NE(why.find("12 teacher key frames agree"), std::string::npos) << why;
    EXPECT_LT(judge.last().candidate, 0.2);
    EXPECT_NEAR(judge.last().shipped, 1.0, 1e-6);
    // An identity map changes nothing: in.
    inference_opencv::Adaptation identity;
    identity.channels[first] = {std::vector<float>(16, 1.0f), std::vector<float>(16, 0.0f)};
    EXPECT_EQ(judge(identity, why), Verdict::install) << why;
}

TEST_F(DetectorAdaptation, RecalibrationOnItsOwnFramesKeepsDetLightDetecting) {
    // Source and target the same kind of frames: the maps stay near identity and the
    // adapted detector still agrees with the shipped one's boxes on most objects.
    std::vector<cv::Mat> source(frames().begin(), frames().begin() + 30);
    std::vector<cv::Mat> target(frames().begin() + 30, frames().end());
    auto to_blob = [](const std::vector<cv::Mat> &images) {
        return cv::dnn::blobFromImages(images, 1.0 / 255.0, kInput, cv::Scalar(), false, false,
                                       CV_32F);
    };
    inference_opencv::RecalibrationOptions options;
    options.batch = 8;
    const auto stats = model_.source_statistics(to_blob(source), 8);
    const auto recalibration = model_.recalibrate(stats, to_blob(target), options);
    EXPECT_EQ(recalibration.size(), 11u);
    cv::dnn::Net adapted = model_.build(recalibration);
    EXPECT_GT(inference_opencv::detection_agreement(adapted, self_taught(12), blob_of), 0.6);
}

} // namespace
