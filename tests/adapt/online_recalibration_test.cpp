// OnlineRecalibration (the plugin's adaptation thread) on the zoo's real cnn-xs and real
// Fashion-MNIST images.
#include "calibration.hpp"
#include "online_recalibration.hpp"

#include <gtest/gtest.h>
#include <opencv2/dnn.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace {

using inference_opencv::OnlineRecalibration;
using inference_opencv::RecalibratableModel;
using inference_opencv::Recalibration;

std::vector<cv::Mat> images(const std::string &file, std::size_t count) {
    return inference_opencv::read_idx_images(std::string(FASHION_MNIST_DIR) + "/" + file,
                                             static_cast<int>(count));
}

cv::Mat to_blob(const std::vector<cv::Mat> &m) {
    return cv::dnn::blobFromImages(m, 1.0 / 90, cv::Size(28, 28), cv::Scalar(73));
}

struct Installed {
    std::mutex mutex;
    std::condition_variable done;
    std::vector<OnlineRecalibration::Report> reports;
    std::vector<Recalibration> maps;
    bool wait_for(std::size_t n) {
        std::unique_lock lock(mutex);
        return done.wait_for(lock, std::chrono::seconds(60), [&] { return reports.size() >= n; });
    }
};

class OnlineRecalibrationTest : public ::testing::Test {
  protected:
    std::shared_ptr<const RecalibratableModel> model_ =
        std::make_shared<RecalibratableModel>(std::string(TIERD_MODELS_DIR) + "/cnn-xs.onnx");
    Installed installed_;
    std::unique_ptr<OnlineRecalibration>
    start(std::size_t samples, std::chrono::milliseconds interval, std::size_t fresh = 0) {
        OnlineRecalibration::Options options;
        options.samples = samples;
        options.interval = interval;
        options.fresh = fresh;
        return std::make_unique<OnlineRecalibration>(
            model_, images("train-images-idx3-ubyte.gz", 200), to_blob, options,
            [this](const inference_opencv::Adaptation &a,
                   const OnlineRecalibration::Report &report) {
                std::lock_guard lock(installed_.mutex);
                installed_.reports.push_back(report);
                installed_.maps.push_back(a.channels);
                installed_.done.notify_all();
            },
            [](bool, const std::string &text) { ADD_FAILURE() << text; });
    }
};

TEST_F(OnlineRecalibrationTest, AdaptsOnceAWindowOfNewInputsIsThere) {
    auto online = start(32, std::chrono::milliseconds(0));
    const auto test = images("t10k-images-idx3-ubyte.gz", 64);
    for (std::size_t i = 0; i < 31; ++i)
        online->observe(test[i] + 60); // brighter: a shift to adapt to
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    {
        std::lock_guard lock(installed_.mutex);
        EXPECT_TRUE(installed_.reports.empty()) << "31 of 32 inputs must not start one";
    }
    online->observe(test[31] + 60);
    ASSERT_TRUE(installed_.wait_for(1));
    EXPECT_EQ(installed_.reports[0].inputs, 32u);
    EXPECT_EQ(installed_.reports[0].bytes, 96u); // cnn-xs: 4 + 8 channels, 2 floats each
    // The map undoes the brightening: the first convolution's shifts are not all zero.
    const auto &first = installed_.maps[0].at(model_->convolutions().front());
    double moved = 0;
    for (float v : first.shift)
        moved += std::abs(v);
    EXPECT_GT(moved, 0.01);
    // 32 more inputs, a second adaptation.
    for (std::size_t i = 32; i < 64; ++i)
        online->observe(test[i] + 60);
    ASSERT_TRUE(installed_.wait_for(2));
    EXPECT_EQ(installed_.reports[1].inputs, 32u);
}

TEST_F(OnlineRecalibrationTest, ASlidingWindowAdaptsEveryFewNewInputsOnAllItHolds) {
    // A window of 32 that starts an adaptation every 8 new inputs (a detector's: frames
    // spread over the scene, adapted on often).
    auto online = start(32, std::chrono::milliseconds(0), 8);
    const auto test = images("t10k-images-idx3-ubyte.gz", 40);
    for (std::size_t i = 0; i < 8; ++i)
        online->observe(test[i] + 60);
    ASSERT_TRUE(installed_.wait_for(1));
    EXPECT_EQ(installed_.reports[0].inputs, 8u); // the first once 8 are in
    for (std::size_t i = 8; i < 40; ++i) {
        online->observe(test[i] + 60);
        if ((i + 1) % 8 == 0) { // one at a time: the next 8 arrive after it took its copy
            ASSERT_TRUE(installed_.wait_for((i + 1) / 8));
        }
    }
    ASSERT_TRUE(installed_.wait_for(5));
    EXPECT_EQ(installed_.reports.back().inputs, 32u); // then the whole window, sliding
}

TEST_F(OnlineRecalibrationTest, WaitsOutTheIntervalBetweenAdaptations) {
    auto online = start(16, std::chrono::milliseconds(1500));
    const auto test = images("t10k-images-idx3-ubyte.gz", 32);
    for (std::size_t i = 0; i < 16; ++i)
        online->observe(test[i]);
    ASSERT_TRUE(installed_.wait_for(1));
    const auto first = std::chrono::steady_clock::now();
    for (std::size_t i = 16; i < 32; ++i)
        online->observe(test[i]);
    ASSERT_TRUE(installed_.wait_for(2));
    const auto gap = std::chrono::steady_clock::now() - first;
    EXPECT_GE(gap, std::chrono::milliseconds(1000)); // the 1.5 s from the first one's start
}

TEST_F(OnlineRecalibrationTest, StopsPromptlyWithNothingToDo) {
    const auto start_time = std::chrono::steady_clock::now();
    {
        auto online = start(1000, std::chrono::milliseconds(0));
        online->observe(images("t10k-images-idx3-ubyte.gz", 1)[0]);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start_time, std::chrono::seconds(10));
    EXPECT_TRUE(installed_.reports.empty());
}

} // namespace
