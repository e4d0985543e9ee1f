// One seed and one set of options give one video: identical gt.json bytes and identical
// decoded frames; other seeds and the other split give other videos.
#include "videogen_run.hpp"

#include "tools/video/backgrounds.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace tierd::videogen_test {
namespace {

constexpr int kFrames = 30;

bool same_pixels(const cv::Mat &a, const cv::Mat &b) {
    return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

TEST(VideogenDeterminism, SameSeedGivesIdenticalGroundTruthAndFrames) {
    TempDir first, second;
    generate(first.path, 7, kFrames);
    generate(second.path, 7, kFrames);
    const std::string gt = read_bytes(first.path / "gt.json");
    ASSERT_FALSE(gt.empty());
    EXPECT_EQ(gt, read_bytes(second.path / "gt.json"));

    const auto a = read_frames(first.path / "video.avi");
    const auto b = read_frames(second.path / "video.avi");
    ASSERT_EQ(a.size(), static_cast<size_t>(kFrames)) << "ffmpeg reads every frame back";
    ASSERT_EQ(b.size(), a.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].size(), cv::Size(640, 360));
        EXPECT_TRUE(same_pixels(a[i], b[i])) << "frame " << i;
    }
}

TEST(VideogenDeterminism, DifferentSeedsGiveDifferentVideos) {
    TempDir one, other;
    generate(one.path, 7, kFrames);
    generate(other.path, 8, kFrames);
    EXPECT_NE(read_bytes(one.path / "gt.json"), read_bytes(other.path / "gt.json"));
    const auto a = read_frames(one.path / "video.avi");
    const auto b = read_frames(other.path / "video.avi");
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    EXPECT_FALSE(same_pixels(a[0], b[0]));
}

// Nothing depends on how many frames follow: a short clip is the start of the long video,
// frames and ground truth alike (so CI's short clips show what the benchmark's videos do).
TEST(VideogenDeterminism, ShortClipIsTheStartOfTheLongVideo) {
    TempDir short_clip, long_video;
    constexpr int kShort = 25, kLong = 70;
    generate(short_clip.path, 1, kShort);
    generate(long_video.path, 1, kLong);
    const auto a = read_json(short_clip.path / "gt.json");
    const auto b = read_json(long_video.path / "gt.json");
    for (int f = 0; f < kShort; ++f)
        EXPECT_EQ(a["images"][f], b["images"][f]) << "frame " << f;
    std::vector<nlohmann::json> start_of_long;
    for (const auto &annotation : b["annotations"])
        if (annotation["image_id"].get<int>() < kShort)
            start_of_long.push_back(annotation);
    EXPECT_EQ(nlohmann::json(start_of_long), a["annotations"]);

    const auto short_frames = read_frames(short_clip.path / "video.avi");
    const auto long_frames = read_frames(long_video.path / "video.avi");
    ASSERT_EQ(short_frames.size(), static_cast<size_t>(kShort));
    ASSERT_EQ(long_frames.size(), static_cast<size_t>(kLong));
    for (int f = 0; f < kShort; ++f)
        EXPECT_TRUE(same_pixels(short_frames[f], long_frames[f])) << "frame " << f;
}

// The frames do not change the ground truth: drawing nothing gives the same gt.json.
TEST(VideogenDeterminism, BackgroundOnlyRunKeepsTheGroundTruth) {
    TempDir drawn, empty;
    generate(drawn.path, 11, kFrames);
    generate(empty.path, 11, kFrames, {"--background-only"});
    EXPECT_EQ(read_bytes(drawn.path / "gt.json"), read_bytes(empty.path / "gt.json"));
}

// A digest of a short clip's gt.json, fixed here: the ground truth uses integer and
// IEEE +,-,* arithmetic only, so it is the same on every machine and C++ library. When a
// change to the generator moves it on purpose, bump kGeneratorVersion
// (tools/video/video_generator.hpp) and put the new digest here.
TEST(VideogenDeterminism, GroundTruthMatchesTheRecordedDigest) {
    TempDir out;
    generate(out.path, 1, 50);
    const std::string gt = read_bytes(out.path / "gt.json");
    uint64_t fnv = 14695981039346656037ULL; // FNV-1a, 64 bit
    for (unsigned char c : gt)
        fnv = (fnv ^ c) * 1099511628211ULL;
    EXPECT_EQ(fnv, TIERD_VIDEOGEN_GT_DIGEST) << "gt.json of seed 1, 50 frames changed";
}

// Training videos use train-* Fashion-MNIST images and the train backgrounds; test videos
// the t10k-* images and the test backgrounds; the two background lists share nothing.
TEST(VideogenSplit, EachSplitUsesOnlyItsOwnBackgroundsAndImages) {
    const auto train = videogen::background_names(videogen::Split::train);
    const auto test = videogen::background_names(videogen::Split::test);
    for (const char *name : train)
        EXPECT_EQ(std::find_if(test.begin(), test.end(),
                               [&](const char *t) { return std::string(t) == name; }),
                  test.end())
            << name << " is in both lists";

    std::set<std::string> train_seen, test_seen;
    uint32_t largest_train_index = 0;
    for (unsigned seed = 1; seed <= 4; ++seed) {
        TempDir a, b;
        generate(a.path, seed, 3, {"--split", "train"});
        generate(b.path, seed, 3, {"--split", "test"});
        const auto gt_train = read_json(a.path / "gt.json");
        const auto gt_test = read_json(b.path / "gt.json");
        EXPECT_EQ(gt_train["info"]["split"], "train");
        EXPECT_EQ(gt_test["info"]["split"], "test");
        train_seen.insert(gt_train["info"]["background"]["file"].get<std::string>());
        test_seen.insert(gt_test["info"]["background"]["file"].get<std::string>());
        for (const auto &t : gt_train["info"]["tracks"])
            largest_train_index =
                std::max(largest_train_index, t["fashion_mnist_index"].get<uint32_t>());
        for (const auto &t : gt_test["info"]["tracks"])
            EXPECT_LT(t["fashion_mnist_index"].get<uint32_t>(), 10000u) << "t10k has 10000";
    }
    for (const auto &name : train_seen)
        EXPECT_NE(
            std::find_if(train.begin(), train.end(), [&](const char *t) { return name == t; }),
            train.end())
            << name;
    for (const auto &name : test_seen)
        EXPECT_NE(std::find_if(test.begin(), test.end(), [&](const char *t) { return name == t; }),
                  test.end())
            << name;
    // Indices above 9999 exist only in the 60000 train images: with a dozen objects drawn
    // uniformly, at least one is there unless the train split read the wrong file.
    EXPECT_GE(largest_train_index, 10000u);
}

} // namespace
} // namespace tierd::videogen_test
