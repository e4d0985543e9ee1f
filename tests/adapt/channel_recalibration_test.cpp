// Channel recalibration (BatchNorm re-estimation folded into the convolutions) on the zoo's
// real resnet-20 and real Fashion-MNIST test images through OpenCV DNN.
#include "calibration.hpp"
#include "channel_recalibration.hpp"
#include "model_manifest.hpp"

#include <gtest/gtest.h>
#include <opencv2/dnn.hpp>
#include <tierd/idx.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using inference_opencv::ChannelAffine;
using inference_opencv::RecalibratableModel;
using inference_opencv::Recalibration;

const std::string kModels = TIERD_MODELS_DIR;
const std::string kData = FASHION_MNIST_DIR;

struct Data {
    std::vector<cv::Mat> images; // 28x28 CV_8UC1
    std::vector<int> labels;
};

// The test split's images from `first`, `count` of them.
Data test_images(std::size_t first, std::size_t count) {
    const auto images = inference_opencv::read_idx_images(kData + "/t10k-images-idx3-ubyte.gz",
                                                          static_cast<int>(first + count));
    const auto labels = tierd::idx::read_labels(kData + "/t10k-labels-idx1-ubyte.gz");
    Data d;
    d.images.assign(images.begin() + static_cast<std::ptrdiff_t>(first), images.end());
    d.labels.assign(labels.begin() + static_cast<std::ptrdiff_t>(first),
                    labels.begin() + static_cast<std::ptrdiff_t>(first + count));
    return d;
}

// Every pixel plus `offset`, saturated (tierd-driftgen's brightness shift).
Data brighter(Data d, double offset) {
    for (auto &m : d.images)
        m.convertTo(m, CV_8U, 1.0, offset);
    return d;
}

class ChannelRecalibration : public ::testing::Test {
  protected:
    void SetUp() override {
        cv::setNumThreads(1);
        manifest_ = inference_opencv::read_manifest(kModels + "/manifest.toml");
        for (const auto &m : manifest_.models)
            if (m.name == "resnet-20")
                path_ = m.path;
        ASSERT_FALSE(path_.empty()) << "resnet-20 is not in the manifest";
    }
    cv::Mat blob(const Data &d) const {
        return cv::dnn::blobFromImages(d.images, manifest_.scale, cv::Size(28, 28),
                                       cv::Scalar(manifest_.mean));
    }
    double accuracy(cv::dnn::Net &net, const Data &d) const {
        net.setInput(blob(d));
        cv::Mat logits = net.forward();
        logits = logits.reshape(1, logits.size[0]);
        int correct = 0;
        for (int r = 0; r < logits.rows; ++r) {
            cv::Point best;
            cv::minMaxLoc(logits.row(r), nullptr, nullptr, nullptr, &best);
            correct += best.x == d.labels[r];
        }
        return static_cast<double>(correct) / logits.rows;
    }
    inference_opencv::Manifest manifest_;
    std::string path_;
};

TEST_F(ChannelRecalibration, FindsTheConvolutionsOfTheModel) {
    RecalibratableModel model(path_);
    // resnet-20: the stem, 9 blocks of two, and two 1x1 shortcut convolutions.
    EXPECT_EQ(model.convolutions().size(), 21u);
}

TEST_F(ChannelRecalibration, AnEmptyOrIdentityMapLeavesTheOutputsAsTheyWere) {
    RecalibratableModel model(path_);
    const cv::Mat input = blob(test_images(0, 32));
    cv::dnn::Net reference = cv::dnn::readNetFromONNX(path_);
    reference.setInput(input);
    const cv::Mat expected = reference.forward().clone();

    cv::dnn::Net empty = model.build();
    empty.setInput(input);
    EXPECT_EQ(cv::norm(empty.forward(), expected, cv::NORM_INF), 0.0);

    Recalibration identity;
    cv::dnn::Net probe = cv::dnn::readNetFromONNX(path_);
    for (const auto &name : model.convolutions()) {
        const int channels = probe.getLayer(name)->blobs[0].size[0];
        identity[name] =
            ChannelAffine{std::vector<float>(channels, 1.0f), std::vector<float>(channels, 0.0f)};
    }
    cv::dnn::Net same = model.build(identity);
    same.setInput(input);
    EXPECT_LT(cv::norm(same.forward(), expected, cv::NORM_INF), 1e-5);
}

TEST_F(ChannelRecalibration, AMapIsFoldedIntoItsConvolutionsOutputBeforeTheActivation) {
    RecalibratableModel model(path_);
    const std::string first = model.convolutions().front();
    const cv::Mat input = blob(test_images(0, 16));
    const auto plain = model.measure(input, {first});

    cv::dnn::Net net = model.build({}, false);
    net.setInput(input);
    const cv::Mat before = net.forward(first).clone();
    double lowest = 0;
    cv::minMaxLoc(before.reshape(1, 1), &lowest);
    EXPECT_LT(lowest, 0.0) << "the measured output must be the convolution's, before its ReLU";

    const int channels = before.size[1];
    Recalibration r;
    r[first] =
        ChannelAffine{std::vector<float>(channels, 2.0f), std::vector<float>(channels, 0.5f)};
    cv::dnn::Net changed = model.build(r, false);
    changed.setInput(input);
    const cv::Mat after = changed.forward(first);
    EXPECT_LT(cv::norm(after, before * 2.0 + 0.5, cv::NORM_INF), 1e-4);

    const auto measured = model.measure(input, {first}, r);
    for (int c = 0; c < channels; ++c) {
        EXPECT_NEAR(measured.at(first).mean[c], 2.0 * plain.at(first).mean[c] + 0.5, 1e-4);
        EXPECT_NEAR(measured.at(first).variance[c], 4.0 * plain.at(first).variance[c],
                    1e-4 * (1.0 + plain.at(first).variance[c]));
    }
}

TEST_F(ChannelRecalibration, LayerByLayerEveryConvolutionGetsItsSourceStatisticsBack) {
    RecalibratableModel model(path_);
    const auto source = model.source_statistics(blob(test_images(0, 256)));
    const cv::Mat target = blob(brighter(test_images(256, 128), 0.3 * 255));
    const auto shifted = model.measure(target, model.convolutions());
    const Recalibration r = model.recalibrate(source, target);
    const auto recalibrated = model.measure(target, model.convolutions(), r);
    double worst_before = 0, worst_after = 0;
    for (const auto &name : model.convolutions())
        for (std::size_t c = 0; c < source.at(name).mean.size(); ++c) {
            const double sd = std::sqrt(source.at(name).variance[c] + 1e-5);
            worst_before = std::max(
                worst_before, std::abs(shifted.at(name).mean[c] - source.at(name).mean[c]) / sd);
            worst_after =
                std::max(worst_after,
                         std::abs(recalibrated.at(name).mean[c] - source.at(name).mean[c]) / sd);
            EXPECT_NEAR(recalibrated.at(name).variance[c], source.at(name).variance[c],
                        1e-3 * (source.at(name).variance[c] + 1e-5))
                << name << " channel " << c;
        }
    EXPECT_GT(worst_before, 0.5) << "the shift must move the statistics for this to test much";
    EXPECT_LT(worst_after, 1e-3);
}

TEST_F(ChannelRecalibration, WinsBackAccuracyUnderABrightnessShift) {
    RecalibratableModel model(path_);
    // Source statistics from the training split's first 500 images; adapt on 256
    // unlabeled shifted test images; evaluate on 500 others.
    Data clean;
    clean.images = inference_opencv::read_idx_images(kData + "/train-images-idx3-ubyte.gz", 500);
    const auto source = model.source_statistics(blob(clean));
    const Data adapt_on = brighter(test_images(0, 256), 0.3 * 255);
    const Data evaluate = brighter(test_images(1000, 500), 0.3 * 255);
    const Data evaluate_clean = test_images(1000, 500);

    cv::dnn::Net plain = model.build();
    const double none = accuracy(plain, evaluate);
    const Recalibration r = model.recalibrate(source, blob(adapt_on));
    cv::dnn::Net adapted = model.build(r);
    const double after = accuracy(adapted, evaluate);
    const double clean_accuracy = accuracy(plain, evaluate_clean);
    RecordProperty("accuracy_none", std::to_string(none));
    RecordProperty("accuracy_adapted", std::to_string(after));
    std::printf("resnet-20, brightness +0.3: none %.3f, adapted %.3f, clean %.3f\n", none, after,
                clean_accuracy);
    EXPECT_LT(none, 0.5) << "resnet-20 is known to fail under this shift (docs/drift.md)";
    EXPECT_GT(after, none + 0.3);
    EXPECT_GT(after, clean_accuracy - 0.1);
}

TEST_F(ChannelRecalibration, RefusesMapsThatDoNotFitTheModel) {
    RecalibratableModel model(path_);
    Recalibration unknown;
    unknown["no-such-layer"] = ChannelAffine{{1.0f}, {0.0f}};
    EXPECT_THROW(model.build(unknown), std::invalid_argument);
    Recalibration wrong_size;
    wrong_size[model.convolutions().front()] = ChannelAffine{{1.0f}, {0.0f}};
    EXPECT_THROW(model.build(wrong_size), std::invalid_argument);
    EXPECT_THROW(model.recalibrate({}, blob(test_images(0, 4))), std::invalid_argument);
    inference_opencv::RecalibrationOptions bad;
    bad.prior_weight = 1.5;
    const auto source = model.source_statistics(blob(test_images(0, 8)));
    EXPECT_THROW(model.recalibrate(source, blob(test_images(0, 4)), bad), std::invalid_argument);
}

TEST(ChannelRecalibrationModel, AFileThatIsNotAModelIsRefusedByName) {
    try {
        RecalibratableModel model("/nonexistent/model.onnx");
        FAIL() << "no exception";
    } catch (const std::runtime_error &e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.onnx"), std::string::npos);
    }
    try {
        RecalibratableModel model(kModels + "/manifest.toml");
        FAIL() << "no exception";
    } catch (const std::runtime_error &e) {
        EXPECT_NE(std::string(e.what()).find("cannot import"), std::string::npos) << e.what();
    }
}

} // namespace
