// The head's supervised adaptation (plugins/inference-opencv/head_finetune.hpp,
// head_learner.hpp) on the zoo's real cnn-xs and real Fashion-MNIST images: the head
// written into a net is what the net computes, labels teach a shift the recalibration
// cannot fix (rotation), a poisoned teacher is refused by the held-back buffer, and heads
// never learn from the labels that judge them.
#include "calibration.hpp"
#include "channel_recalibration.hpp"
#include "head_finetune.hpp"
#include "head_learner.hpp"
#include "model_manifest.hpp"
#include "teacher_judge.hpp"
#include "teacher_labels.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <tierd/idx.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {

using inference_opencv::Adaptation;
using inference_opencv::Head;
using inference_opencv::HeadLearner;
using inference_opencv::RecalibratableModel;
using inference_opencv::TeacherLabels;

const std::string kData = FASHION_MNIST_DIR;

class HeadLearningTest : public ::testing::Test {
  protected:
    void SetUp() override {
        cv::setNumThreads(1);
        manifest_ =
            inference_opencv::read_manifest(std::string(TIERD_MODELS_DIR) + "/manifest.toml");
        for (const auto &m : manifest_.models)
            if (m.name == "cnn-xs")
                model_ = std::make_shared<RecalibratableModel>(m.path);
        ASSERT_TRUE(model_) << "cnn-xs is not in the manifest";
        // 600 test images rotated by 30 degrees: a shift statistics cannot undo (cnn-xs
        // answers ~40% of them, docs/drift.md), that labels can teach.
        rotated_ = inference_opencv::read_idx_images(kData + "/t10k-images-idx3-ubyte.gz", 600);
        const cv::Mat turn = cv::getRotationMatrix2D(cv::Point2f(13.5f, 13.5f), 30.0, 1.0);
        for (auto &m : rotated_)
            cv::warpAffine(m.clone(), m, turn, m.size());
        const auto labels = tierd::idx::read_labels(kData + "/t10k-labels-idx1-ubyte.gz");
        truth_.assign(labels.begin(), labels.begin() + 600);
        // The held-back buffer: training images the tests do not otherwise use.
        auto train = inference_opencv::read_idx_images(kData + "/train-images-idx3-ubyte.gz", 800);
        const auto train_labels = tierd::idx::read_labels(kData + "/train-labels-idx1-ubyte.gz");
        holdout_.assign(train.begin() + 300, train.end());
        holdout_labels_.assign(train_labels.begin() + 300, train_labels.begin() + 800);
        labels_ = std::make_shared<TeacherLabels>(1024);
    }
    cv::Mat to_blob(const std::vector<cv::Mat> &images) const {
        return cv::dnn::blobFromImages(images, manifest_.scale, cv::Size(28, 28),
                                       cv::Scalar(manifest_.mean));
    }
    HeadLearner learner(double max_drop = 0.02) const {
        HeadLearner::Options options;
        options.max_holdout_drop = max_drop;
        return HeadLearner(
            model_, "cnn-xs", [this](const std::vector<cv::Mat> &m) { return to_blob(m); }, labels_,
            holdout_, holdout_labels_, options);
    }
    // Accuracy of a net on the rotated images from `first` on (the ones no label taught).
    double accuracy_from(cv::dnn::Net net, std::size_t first) const {
        std::vector<cv::Mat> images(rotated_.begin() + static_cast<std::ptrdiff_t>(first),
                                    rotated_.end());
        net.setInput(to_blob(images));
        cv::Mat out = net.forward();
        out = out.reshape(1, out.size[0]);
        int right = 0;
        for (int r = 0; r < out.rows; ++r) {
            cv::Point top;
            cv::minMaxLoc(out.row(r), nullptr, nullptr, nullptr, &top);
            right += top.x == truth_[first + static_cast<std::size_t>(r)];
        }
        return static_cast<double>(right) / out.rows;
    }

    inference_opencv::Manifest manifest_;
    std::shared_ptr<RecalibratableModel> model_;
    std::vector<cv::Mat> rotated_, holdout_;
    std::vector<int> truth_, holdout_labels_;
    std::shared_ptr<TeacherLabels> labels_;
};

TEST_F(HeadLearningTest, TheHeadIsTheNetsLastLinearLayer) {
    const Head &head = model_->shipped_head();
    ASSERT_FALSE(head.empty());
    EXPECT_EQ(head.weights.rows, 10);
    EXPECT_EQ(head.weights.cols, 392); // 8 channels x 7 x 7
    // The budget for a head update is 16 KB.
    EXPECT_EQ(inference_opencv::head_bytes(head), (392u * 10 + 10) * 4);
    EXPECT_LE(inference_opencv::head_bytes(head), 16384u);
    // Its logits on the net's own features are the net's output.
    cv::dnn::Net net = model_->build();
    const cv::Mat blob = to_blob({rotated_.begin(), rotated_.begin() + 50});
    const cv::Mat features = inference_opencv::head_features(net, head.layer, blob);
    ASSERT_EQ(features.rows, 50);
    net.setInput(blob);
    cv::Mat out = net.forward();
    EXPECT_LT(
        cv::norm(inference_opencv::head_logits(head, features), out.reshape(1, 50), cv::NORM_INF),
        1e-4);
}

TEST_F(HeadLearningTest, AHeadWrittenIntoANetIsWhatItComputes) {
    Head head = model_->shipped_head();
    head.weights = cv::Mat::zeros(head.weights.size(), CV_32F);
    for (int o = 0; o < 10; ++o)
        head.bias.at<float>(0, o) = static_cast<float>(o);
    cv::dnn::Net net = model_->build({}, true, head);
    net.setInput(to_blob({rotated_[0]}));
    const cv::Mat out = net.forward().reshape(1, 1);
    for (int o = 0; o < 10; ++o)
        EXPECT_FLOAT_EQ(out.at<float>(0, o), static_cast<float>(o));
    Head wrong = head;
    wrong.weights = cv::Mat::zeros(10, 391, CV_32F);
    EXPECT_THROW(model_->build({}, true, wrong), std::invalid_argument);
}

TEST_F(HeadLearningTest, TrueLabelsTeachTheHeadARotation) {
    cv::dnn::Net shipped = model_->build();
    const cv::Mat features = inference_opencv::head_features(
        shipped, model_->shipped_head().layer, to_blob({rotated_.begin(), rotated_.begin() + 200}));
    const std::vector<int> labels(truth_.begin(), truth_.begin() + 200);
    const Head tuned =
        inference_opencv::fine_tune_head(model_->shipped_head(), features, labels, {});
    const double before = accuracy_from(model_->build(), 200);
    const double after = accuracy_from(model_->build({}, true, tuned), 200);
    std::printf("rotation by 30 degrees, 400 images no label taught: shipped %.1f%%, head "
                "tuned on 200 true labels %.1f%%\n",
                100 * before, 100 * after);
    EXPECT_GT(after, before + 0.08);
    // Labels outside the classes, or weighted 0, teach nothing.
    const Head same = inference_opencv::fine_tune_head(model_->shipped_head(), features,
                                                       std::vector<int>(200, 10), {});
    EXPECT_EQ(cv::norm(same.weights, model_->shipped_head().weights, cv::NORM_INF), 0.0);
}

TEST_F(HeadLearningTest, TheLearnerLearnsFromTheLabelsThatAreNotHeldOut) {
    for (std::size_t i = 0; i < 200; ++i)
        labels_->add(rotated_[i], truth_[i], 1.0f, "resnet-20");
    auto learn = learner();
    Adaptation candidate;
    std::string note;
    learn(candidate, note);
    ASSERT_FALSE(candidate.head.empty()) << note;
    EXPECT_EQ(learn.last().labels, 160u) << "every fifth label is held out for the judge";
    EXPECT_FALSE(learn.last().refused) << note;
    EXPECT_GE(learn.last().holdout, learn.last().holdout_shipped - 0.02) << note;
    EXPECT_GT(accuracy_from(model_->build(candidate), 200),
              accuracy_from(model_->build(), 200) + 0.05)
        << note;
    EXPECT_NE(note.find("head learnt from 160 teacher labels"), std::string::npos) << note;
}

TEST_F(HeadLearningTest, APoisonedTeacherIsRefusedByTheHeldBackBuffer) {
    // Confident and systematically wrong: every class answered as the next one.
    for (std::size_t i = 0; i < 400; ++i)
        labels_->add(rotated_[i], (truth_[i] + 1) % 10, 0.99f, "resnet-20");
    auto learn = learner();
    Adaptation candidate;
    std::string note;
    learn(candidate, note);
    EXPECT_TRUE(learn.last().trained);
    EXPECT_TRUE(learn.last().refused) << note;
    EXPECT_TRUE(candidate.head.empty()) << "the shipped head stays";
    EXPECT_LT(learn.last().holdout, learn.last().holdout_shipped - 0.04) << note;
    EXPECT_NE(note.find("head refused"), std::string::npos) << note;
    // Without the held-back buffer nothing would have stopped it.
    auto unguarded =
        HeadLearner(model_, "cnn-xs", [this](const std::vector<cv::Mat> &m) { return to_blob(m); },
                    labels_, {}, {}, {});
    unguarded(candidate, note);
    EXPECT_FALSE(candidate.head.empty());
    EXPECT_LT(accuracy_from(model_->build(candidate), 400), accuracy_from(model_->build(), 400));
}

TEST_F(HeadLearningTest, AHeadTheHeldOutLabelsContradictIsDropped) {
    // The labels it learns from say k+1 where the held-out fifth (every fifth added) says
    // k: what it learnt agrees less with the held-out ones than the shipped head does.
    for (std::size_t i = 0; i < 400; ++i)
        labels_->add(rotated_[i], i % 5 == 0 ? truth_[i] : (truth_[i] + 1) % 10, 1.0f, "resnet-20");
    auto learn = learner(1.0); // no held-back guard: the held-out check alone
    Adaptation candidate;
    std::string note;
    learn(candidate, note);
    EXPECT_TRUE(learn.last().trained);
    EXPECT_FALSE(learn.last().refused);
    EXPECT_TRUE(learn.last().dropped) << note;
    EXPECT_LT(learn.last().agreement, learn.last().agreement_shipped) << note;
    EXPECT_TRUE(candidate.head.empty());
    EXPECT_NE(note.find("head dropped"), std::string::npos) << note;
    EXPECT_NE(note.find("80 held-out labels agree"), std::string::npos) << note;
}

TEST_F(HeadLearningTest, TooFewLabelsLeaveTheShippedHead) {
    for (std::size_t i = 0; i < 20; ++i)
        labels_->add(rotated_[i], truth_[i], 1.0f, "resnet-20");
    auto learn = learner();
    Adaptation candidate;
    candidate.head = model_->shipped_head(); // whatever was there goes
    std::string note;
    learn(candidate, note);
    EXPECT_TRUE(candidate.head.empty());
    EXPECT_FALSE(learn.last().trained);
    EXPECT_NE(note.find("fewer than 32"), std::string::npos) << note;
}

TEST_F(HeadLearningTest, WithHeadsOnlyHeldOutLabelsJudge) {
    for (std::size_t i = 0; i < 200; ++i)
        labels_->add(rotated_[i], truth_[i], 1.0f, "resnet-20");
    inference_opencv::TeacherJudge judge(
        model_, "cnn-xs", [this](const std::vector<cv::Mat> &m) { return to_blob(m); }, labels_, 32,
        true);
    std::string why;
    judge(Adaptation{}, why);
    EXPECT_EQ(judge.last().labels, 40u) << why;
    EXPECT_NE(why.find("40 held-out teacher labels"), std::string::npos) << why;
}

TEST(HeadFinetune, ANetWithoutALinearLastLayerHasNoHead) {
    // The zoo's detectors end in convolutions (heatmap and box maps).
    const auto manifest =
        inference_opencv::read_manifest(std::string(TIERD_MODELS_DIR) + "/manifest.toml");
    ASSERT_FALSE(manifest.detectors.empty()) << "the zoo ships det-light and det-heavy";
    cv::dnn::Net net = cv::dnn::readNet(manifest.detectors.front().path);
    EXPECT_EQ(inference_opencv::find_head_layer(net), "");
}

} // namespace
