// AnsweredSamples: what a serving tier keeps of the images it answered, per device, as
// training data for that device's model ([offload] keep_answered).
#include "agent/pipeline/answered_samples.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace tierd {
namespace {

cv::Mat gray(int rows, int cols, int value) {
    return cv::Mat(rows, cols, CV_8UC1, cv::Scalar(value));
}

TEST(AnsweredSamplesTest, KeepsTheLastCapacityImagesPerDeviceOldestFirst) {
    AnsweredSamples keeper(3);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(keeper.keep("end-1", gray(28, 28, i), i, 0.5f, "t" + std::to_string(i)));
    keeper.keep("end-2", gray(28, 28, 9), 9, 0.9f, "u");
    const auto set = keeper.get("end-1");
    ASSERT_EQ(set.samples.size(), 3u);
    EXPECT_EQ(set.samples.front().label, 2);
    EXPECT_EQ(set.samples.back().task_id, "t4");
    EXPECT_EQ(set.samples.back().image.at<uchar>(5, 5), 4);
    EXPECT_EQ(keeper.get("end-1", 2).samples.front().label, 3); // the last 2
    EXPECT_EQ(keeper.get("end-2").samples.size(), 1u);
    EXPECT_TRUE(keeper.get("nobody").samples.empty());
    EXPECT_EQ(keeper.kept_total(), 6u);
}

TEST(AnsweredSamplesTest, TheKeptImageIsACopy) {
    AnsweredSamples keeper(2);
    cv::Mat image = gray(4, 4, 7);
    keeper.keep("d", image, 1, 1.0f, "t");
    image.setTo(0); // the request's buffer is freed or reused after the batch
    EXPECT_EQ(keeper.get("d").samples.at(0).image.at<uchar>(0, 0), 7);
}

TEST(AnsweredSamplesTest, OnlyOneChannelImagesOfTheDevicesSizeAndRealLabels) {
    AnsweredSamples keeper(10);
    EXPECT_FALSE(keeper.keep("d", cv::Mat(28, 28, CV_8UC3, cv::Scalar::all(1)), 1, 1, "bgr"));
    EXPECT_FALSE(keeper.keep("d", cv::Mat(), 1, 1, "empty"));
    EXPECT_FALSE(keeper.keep("d", gray(257, 256, 1), 1, 1, "too large"));
    EXPECT_EQ(keeper.skipped_total(), 3u);
    EXPECT_FALSE(keeper.keep("d", gray(28, 28, 1), -1, 1, "no class"));
    ASSERT_TRUE(keeper.keep("d", gray(28, 28, 1), 1, 1, "a"));
    ASSERT_TRUE(keeper.keep("d", gray(28, 28, 2), 2, 1, "b"));
    // Another size: the device starts over (an IDX file holds one size).
    ASSERT_TRUE(keeper.keep("d", gray(32, 32, 3), 3, 1, "c"));
    const auto set = keeper.get("d");
    ASSERT_EQ(set.samples.size(), 1u);
    EXPECT_EQ(set.rows, 32);
    EXPECT_EQ(set.cols, 32);
}

TEST(AnsweredSamplesTest, CapacityZeroKeepsNothingAndForgets) {
    AnsweredSamples keeper(0);
    EXPECT_FALSE(keeper.keep("d", gray(2, 2, 1), 1, 1, "t"));
    keeper.set_capacity(4);
    for (int i = 0; i < 4; ++i)
        keeper.keep("d", gray(2, 2, i), i, 1, "t");
    keeper.set_capacity(2); // shrinking drops the oldest
    EXPECT_EQ(keeper.get("d").samples.front().label, 2);
    keeper.set_capacity(0);
    EXPECT_TRUE(keeper.get("d").samples.empty());
    EXPECT_TRUE(keeper.counts().empty());
}

TEST(AnsweredSamplesTest, AtMostMaxDevicesTheStalestGoes) {
    AnsweredSamples keeper(1);
    for (std::size_t i = 0; i <= AnsweredSamples::kMaxDevices; ++i)
        keeper.keep("dev-" + std::to_string(i), gray(2, 2, 1), 1, 1, "t");
    const auto counts = keeper.counts();
    EXPECT_EQ(counts.size(), AnsweredSamples::kMaxDevices);
    EXPECT_EQ(counts.count("dev-0"), 0u);
    EXPECT_EQ(counts.count("dev-64"), 1u);
}

TEST(AnsweredSamplesTest, IdxFilesAreWhatEveryIdxReaderTakes) {
    AnsweredSamples keeper(5);
    cv::Mat a = gray(2, 3, 0);
    a.at<uchar>(1, 2) = 200;
    keeper.keep("d", a, 7, 1, "t0");
    keeper.keep("d", gray(2, 3, 5), 3, 1, "t1");
    const auto set = keeper.get("d");
    const std::string images = idx_images(set), labels = idx_labels(set);
    const std::string image_header{'\0', '\0', '\x08', '\x03', 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
    ASSERT_EQ(images.size(), 16u + 2 * 6);
    EXPECT_EQ(images.substr(0, 16), image_header);
    EXPECT_EQ(static_cast<unsigned char>(images[16 + 5]), 200); // row 1, col 2 of the first
    EXPECT_EQ(static_cast<unsigned char>(images[16 + 6]), 5);
    const std::string label_file{'\0', '\0', '\x08', '\x01', 0, 0, 0, 2, 7, 3};
    EXPECT_EQ(labels, label_file);
}

TEST(AnsweredSamplesTest, WorkersKeepWhileTheLoopReads) {
    AnsweredSamples keeper(100);
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w)
        workers.emplace_back([&keeper, w] {
            for (int i = 0; i < 500; ++i)
                keeper.keep("d" + std::to_string(w % 2), gray(28, 28, i % 256), i % 10, 1, "t");
        });
    for (int i = 0; i < 200; ++i)
        EXPECT_LE(keeper.get("d0").samples.size(), 100u);
    for (auto &t : workers)
        t.join();
    EXPECT_EQ(keeper.kept_total(), 2000u);
    EXPECT_EQ(keeper.get("d1").samples.size(), 100u);
}

} // namespace
} // namespace tierd
