// Teacher labels (the replay buffer learn() fills) and the judge they make of a model's
// adaptations, on the zoo's real resnet-20 and real Fashion-MNIST images.
#include "calibration.hpp"
#include "channel_recalibration.hpp"
#include "model_manifest.hpp"
#include "teacher_judge.hpp"
#include "teacher_labels.hpp"

#include <gtest/gtest.h>
#include <opencv2/dnn.hpp>
#include <tierd/idx.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

using inference_opencv::OnlineRecalibration;
using inference_opencv::RecalibratableModel;
using inference_opencv::Recalibration;
using inference_opencv::TeacherJudge;
using inference_opencv::TeacherLabels;
using Verdict = OnlineRecalibration::Verdict;

const std::string kData = FASHION_MNIST_DIR;
// The zoo's smallest classifier: each judgement here takes milliseconds (resnet-20's
// recalibration takes seconds; bench/adapt measures it).
const char *const kModel = "cnn-xs";

// Image `i` of a synthetic stream: one pixel holding i, so that tests can tell which
// labels a buffer kept.
cv::Mat numbered(int i) {
    return cv::Mat(1, 1, CV_32S, cv::Scalar(i));
}

TEST(TeacherLabels, KeepsTheLatestHalfAndASampleOfAllThatCameBefore) {
    TeacherLabels labels(8);
    for (int i = 0; i < 1000; ++i)
        ASSERT_TRUE(labels.add(numbered(i), i % 10, 1.0f, "resnet-20"));
    EXPECT_EQ(labels.seen(), 1000u);
    const auto kept = labels.snapshot();
    ASSERT_EQ(kept.size(), 8u);
    std::vector<int> ids;
    for (const auto &l : kept) {
        ids.push_back(l.image.at<int>(0, 0));
        EXPECT_EQ(l.label, ids.back() % 10);
        EXPECT_EQ(l.teacher_model, "resnet-20");
    }
    // The latest four, then four drawn from the 996 before them (reservoir, fixed seed):
    // not all from the last tenth, as a buffer of the latest only would be.
    std::vector<int> recent(ids.begin(), ids.begin() + 4), sample(ids.begin() + 4, ids.end());
    std::sort(recent.begin(), recent.end());
    EXPECT_EQ(recent, (std::vector<int>{996, 997, 998, 999}));
    for (int id : sample)
        EXPECT_LT(id, 996);
    EXPECT_LT(*std::min_element(sample.begin(), sample.end()), 900);
}

TEST(TeacherLabels, RefusesWhatCannotBeALabel) {
    TeacherLabels labels(4);
    EXPECT_FALSE(labels.add(cv::Mat(), 1, 1.0f));
    EXPECT_FALSE(labels.add(numbered(1), -1, 1.0f));
    EXPECT_FALSE(labels.add(numbered(1), 1, 0.0f));
    EXPECT_TRUE(labels.add(numbered(1), 1, 2.0f));
    ASSERT_EQ(labels.size(), 1u);
    EXPECT_EQ(labels.snapshot()[0].weight, 1.0f);
    // A copy: the caller's buffer may change afterwards.
    cv::Mat image = numbered(7);
    labels.add(image, 7, 0.5f);
    image.at<int>(0, 0) = 0;
    EXPECT_EQ(labels.snapshot()[1].image.at<int>(0, 0), 7);
}

class TeacherJudgeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        cv::setNumThreads(1);
        manifest_ =
            inference_opencv::read_manifest(std::string(TIERD_MODELS_DIR) + "/manifest.toml");
        for (const auto &m : manifest_.models)
            if (m.name == kModel)
                model_ = std::make_shared<RecalibratableModel>(m.path);
        ASSERT_TRUE(model_) << kModel << " is not in the manifest";
        // 300 test images, brightened (+0.3, tierd-driftgen's brightness@3), which the
        // model answers far worse than clean ones as shipped, and far better recalibrated
        // to them (TrueLabelsLetAHelpfulRecalibrationIn prints the figures).
        shifted_ = inference_opencv::read_idx_images(kData + "/t10k-images-idx3-ubyte.gz", 300);
        for (auto &m : shifted_)
            m.convertTo(m, CV_8U, 1.0, 0.3 * 255);
        const auto labels = tierd::idx::read_labels(kData + "/t10k-labels-idx1-ubyte.gz");
        truth_.assign(labels.begin(),
                      labels.begin() + static_cast<std::ptrdiff_t>(shifted_.size()));
        const auto clean =
            inference_opencv::read_idx_images(kData + "/train-images-idx3-ubyte.gz", 500);
        candidate_.channels =
            model_->recalibrate(model_->source_statistics(to_blob(clean)), to_blob(shifted_));
        labels_ = std::make_shared<TeacherLabels>(512);
    }
    cv::Mat to_blob(const std::vector<cv::Mat> &images) const {
        return cv::dnn::blobFromImages(images, manifest_.scale, cv::Size(28, 28),
                                       cv::Scalar(manifest_.mean));
    }
    TeacherJudge judge(std::size_t min_labels = 32) const {
        return TeacherJudge(
            model_, kModel, [this](const std::vector<cv::Mat> &m) { return to_blob(m); }, labels_,
            min_labels);
    }
    // The shipped model's own answers on the shifted images (a teacher that shares its
    // errors: what a poisoned or equally shifted teacher looks like from here).
    std::vector<int> shipped_answers() const {
        cv::dnn::Net net = model_->build();
        net.setInput(to_blob(shifted_));
        cv::Mat out = net.forward();
        out = out.reshape(1, out.size[0]);
        std::vector<int> answers;
        for (int r = 0; r < out.rows; ++r) {
            cv::Point top;
            cv::minMaxLoc(out.row(r), nullptr, nullptr, nullptr, &top);
            answers.push_back(top.x);
        }
        return answers;
    }
    void label_with(const std::vector<int> &classes, const std::string &teacher = "resnet-56") {
        for (std::size_t i = 0; i < shifted_.size(); ++i)
            labels_->add(shifted_[i], classes[i], 0.9f, teacher);
    }

    inference_opencv::Manifest manifest_;
    std::shared_ptr<RecalibratableModel> model_;
    std::vector<cv::Mat> shifted_;
    std::vector<int> truth_;
    inference_opencv::Adaptation candidate_;
    std::shared_ptr<TeacherLabels> labels_;
};

TEST_F(TeacherJudgeTest, WeightedAgreementCountsEachLabelByItsConfidence) {
    cv::dnn::Net net = model_->build();
    const auto answers = shipped_answers();
    std::vector<inference_opencv::TeacherLabel> labels;
    for (std::size_t i = 0; i < 100; ++i) {
        const bool right = i % 2 == 0; // half agree with the net (weight 1), half not (0.25)
        labels.push_back(
            {shifted_[i], right ? answers[i] : (answers[i] + 1) % 10, right ? 1.0f : 0.25f, "t"});
    }
    const auto blob = [this](const std::vector<cv::Mat> &m) { return to_blob(m); };
    EXPECT_NEAR(inference_opencv::weighted_agreement(net, labels, blob, 16), 50.0 / 62.5, 1e-9);
    EXPECT_EQ(inference_opencv::weighted_agreement(net, {}, blob), -1.0);
}

TEST_F(TeacherJudgeTest, TrueLabelsLetAHelpfulRecalibrationIn) {
    label_with(truth_);
    auto j = judge();
    std::string why;
    EXPECT_EQ(j(candidate_, why), Verdict::install) << why;
    EXPECT_TRUE(j.last().judged);
    EXPECT_EQ(j.last().labels, 256u) << "the latest half of the 512 judge; 300 were added";
    EXPECT_GT(j.last().candidate, j.last().shipped + 0.2) << why;
    std::printf("%s\n", why.c_str());
    EXPECT_NE(why.find("teacher labels agree"), std::string::npos) << why;
}

TEST_F(TeacherJudgeTest, LabelsThatAgreeWithTheShippedModelKeepTheRecalibrationOut) {
    label_with(shipped_answers());
    auto j = judge();
    std::string why;
    EXPECT_EQ(j(candidate_, why), Verdict::keep) << why;
    EXPECT_DOUBLE_EQ(j.last().shipped, 1.0);
    EXPECT_LT(j.last().candidate, 0.9) << why;
}

TEST_F(TeacherJudgeTest, AnAdaptationInstalledUnjudgedIsRolledBackWhenLabelsShowItWorse) {
    auto j = judge();
    std::string why;
    EXPECT_EQ(j(candidate_, why), Verdict::install) << why; // no labels yet
    EXPECT_FALSE(j.last().judged);
    label_with(shipped_answers());
    EXPECT_EQ(j(candidate_, why), Verdict::revert) << why;
    EXPECT_GT(j.last().shipped, j.last().installed + 0.1) << why;
    // Back on the shipped model: a worse candidate now is only kept out.
    EXPECT_EQ(j(candidate_, why), Verdict::keep) << why;
}

TEST_F(TeacherJudgeTest, AModelsOwnAnswersDoNotJudgeIt) {
    label_with(shipped_answers(), kModel); // the teacher runs the same model
    auto j = judge();
    std::string why;
    EXPECT_EQ(j(candidate_, why), Verdict::install) << why;
    EXPECT_FALSE(j.last().judged);
    EXPECT_EQ(j.last().labels, 0u);
}

} // namespace
