// gt.json is a well-formed COCO file that tells the truth: each box is the extent of its
// object's visible pixels (--labels writes them), each area their count, and the objects
// are really drawn there (frames with objects differ from the same frames without them
// inside the boxes, and nowhere else).
#include "videogen_run.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <map>
#include <set>

namespace tierd::videogen_test {
namespace {

constexpr int kWidth = 640, kHeight = 360;

class VideogenGroundTruth : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        generate(dir_->path, 3, kFrames, {"--labels"});
        gt_ = new nlohmann::json(read_json(dir_->path / "gt.json"));
    }
    static void TearDownTestSuite() {
        delete gt_;
        delete dir_;
    }
    static constexpr int kFrames = 60;
    static inline TempDir *dir_ = nullptr;
    static inline nlohmann::json *gt_ = nullptr;
};

TEST_F(VideogenGroundTruth, ImagesAreTheFramesInOrder) {
    const auto &images = (*gt_)["images"];
    ASSERT_EQ(images.size(), static_cast<size_t>(kFrames));
    for (int f = 0; f < kFrames; ++f) {
        EXPECT_EQ(images[f]["id"], f);
        EXPECT_EQ(images[f]["frame_index"], f);
        EXPECT_EQ(images[f]["file_name"], "video.avi#" + std::to_string(f));
        EXPECT_EQ(images[f]["width"], kWidth);
        EXPECT_EQ(images[f]["height"], kHeight);
        for (const auto &kind : images[f]["effects"])
            EXPECT_TRUE(kind == "pan" || kind == "blur" || kind == "light" || kind == "noise")
                << kind;
    }
    const auto &info = (*gt_)["info"];
    EXPECT_EQ(info["frames"], kFrames);
    EXPECT_EQ(info["seed"], 3);
    EXPECT_EQ(info["fps"], 25.0);
}

TEST_F(VideogenGroundTruth, CategoriesAreTheTenFashionMnistClasses) {
    const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                            "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};
    const auto &categories = (*gt_)["categories"];
    ASSERT_EQ(categories.size(), names.size());
    for (size_t i = 0; i < names.size(); ++i) {
        EXPECT_EQ(categories[i]["id"], i + 1);
        EXPECT_EQ(categories[i]["name"], names[i]);
    }
}

TEST_F(VideogenGroundTruth, AnnotationsAreWellFormed) {
    const auto &annotations = (*gt_)["annotations"];
    ASSERT_GT(annotations.size(), static_cast<size_t>(kFrames)) << "about 2-8 objects a frame";
    std::set<int> ids;
    std::map<int, std::set<int>> tracks_per_frame;
    for (const auto &a : annotations) {
        EXPECT_TRUE(ids.insert(a["id"].get<int>()).second) << "duplicate id " << a["id"];
        const int frame = a["image_id"];
        EXPECT_GE(frame, 0);
        EXPECT_LT(frame, kFrames);
        EXPECT_TRUE(tracks_per_frame[frame].insert(a["track_id"].get<int>()).second)
            << "one track twice in frame " << frame;
        const int category = a["category_id"];
        EXPECT_GE(category, 1);
        EXPECT_LE(category, 10);
        const auto &b = a["bbox"];
        ASSERT_EQ(b.size(), 4u);
        const double x = b[0], y = b[1], w = b[2], h = b[3];
        EXPECT_GE(x, 0);
        EXPECT_GE(y, 0);
        EXPECT_LE(x + w, kWidth);
        EXPECT_LE(y + h, kHeight);
        EXPECT_GE(w, 4);
        EXPECT_GE(h, 4);
        const double area = a["area"];
        EXPECT_GT(area, 0);
        EXPECT_LE(area, w * h);
        EXPECT_TRUE(a["iscrowd"] == 0 || a["iscrowd"] == 1);
        for (const char *fraction : {"occluded", "truncated"}) {
            EXPECT_GE(a[fraction].get<double>(), 0) << fraction;
            EXPECT_LE(a[fraction].get<double>(), 1) << fraction;
        }
    }
    // Objects per frame: the generator keeps about 2-8 in view.
    double sum = 0;
    for (const auto &[frame, tracks] : tracks_per_frame)
        sum += static_cast<double>(tracks.size());
    const double mean = sum / kFrames;
    EXPECT_GE(mean, 1.5);
    EXPECT_LE(mean, 9);
}

// A track keeps its category, and where it is fully in view and unoccluded in consecutive
// frames its box moves and resizes by at most what the motion limits allow (6 px/frame
// per axis, pans of up to 3.5 px/frame, 0.4% size change per frame, rounding).
TEST_F(VideogenGroundTruth, TracksKeepTheirClassAndMovePlausibly) {
    std::map<int, int> category_of;
    std::map<int, std::map<int, nlohmann::json>> by_track;
    for (const auto &a : (*gt_)["annotations"]) {
        const int track = a["track_id"];
        auto [it, added] = category_of.try_emplace(track, a["category_id"].get<int>());
        EXPECT_EQ(it->second, a["category_id"].get<int>()) << "track " << track;
        by_track[track][a["image_id"].get<int>()] = a;
    }
    ASSERT_GE(by_track.size(), 2u);
    int compared = 0;
    for (const auto &[track, frames] : by_track)
        for (const auto &[frame, a] : frames) {
            const auto next = frames.find(frame + 1);
            if (next == frames.end())
                continue;
            const auto &b = next->second;
            if (a["occluded"] != 0.0 || b["occluded"] != 0.0 || a["truncated"] != 0.0 ||
                b["truncated"] != 0.0)
                continue;
            const auto &p = a["bbox"], &q = b["bbox"];
            const double dx = (q[0].get<double>() + q[2].get<double>() / 2) -
                              (p[0].get<double>() + p[2].get<double>() / 2);
            const double dy = (q[1].get<double>() + q[3].get<double>() / 2) -
                              (p[1].get<double>() + p[3].get<double>() / 2);
            EXPECT_LE(std::hypot(dx, dy), 14) << "track " << track << " frame " << frame;
            EXPECT_LE(std::fabs(q[2].get<double>() - p[2].get<double>()), 3) << track;
            EXPECT_LE(std::fabs(q[3].get<double>() - p[3].get<double>()), 3) << track;
            ++compared;
        }
    EXPECT_GT(compared, 20);
}

// Each annotation's box and area are those of its object's pixels in the label map, and
// every object visible with a box of at least 4x4 pixels has an annotation.
TEST_F(VideogenGroundTruth, BoxesAndAreasMatchTheVisiblePixels) {
    std::map<int, std::map<int, nlohmann::json>> by_frame; // frame -> track -> annotation
    for (const auto &a : (*gt_)["annotations"])
        by_frame[a["image_id"].get<int>()][a["track_id"].get<int>()] = a;
    for (int f = 0; f < kFrames; ++f) {
        const cv::Mat labels = read_labels(dir_->path, f);
        ASSERT_EQ(labels.type(), CV_16U) << "frame " << f;
        ASSERT_EQ(labels.size(), cv::Size(kWidth, kHeight));
        std::map<int, cv::Rect> extent;
        std::map<int, int> count;
        for (int y = 0; y < labels.rows; ++y)
            for (int x = 0; x < labels.cols; ++x) {
                const int label = labels.at<uint16_t>(y, x);
                if (label == 0)
                    continue;
                const int track = label - 1;
                auto [it, added] = extent.try_emplace(track, cv::Rect(x, y, 1, 1));
                if (!added)
                    it->second |= cv::Rect(x, y, 1, 1);
                ++count[track];
            }
        for (const auto &[track, box] : extent) {
            const auto found = by_frame[f].find(track);
            if (box.width < 4 || box.height < 4) {
                EXPECT_EQ(found, by_frame[f].end()) << "tiny track " << track << " frame " << f;
                continue;
            }
            ASSERT_NE(found, by_frame[f].end()) << "track " << track << " frame " << f;
            const auto &b = found->second["bbox"];
            EXPECT_EQ(cv::Rect(b[0].get<int>(), b[1].get<int>(), b[2].get<int>(), b[3].get<int>()),
                      box)
                << "track " << track << " frame " << f;
            EXPECT_EQ(found->second["area"].get<int>(), count[track]);
        }
        for (const auto &[track, a] : by_frame[f])
            EXPECT_TRUE(extent.count(track)) << "annotated but not visible: " << track;
    }
}

// Objects are drawn where the ground truth puts them: against the same video rendered
// without objects (lossless FFV1, so only the objects differ), the pixels that change lie
// within a few pixels (motion blur, anti-aliased edges) of the objects' masks, and most
// mask pixels of counted annotations do change.
TEST(VideogenDrawing, ObjectsAreDrawnWhereTheirBoxesSay) {
    TempDir drawn, empty;
    constexpr int kFrames = 30;
    generate(drawn.path, 5, kFrames, {"--codec", "ffv1", "--labels"});
    generate(empty.path, 5, kFrames, {"--codec", "ffv1", "--background-only"});
    const auto with = read_frames(drawn.path / "video.avi");
    const auto without = read_frames(empty.path / "video.avi");
    ASSERT_EQ(with.size(), static_cast<size_t>(kFrames));
    ASSERT_EQ(without.size(), with.size());

    const auto gt = read_json(drawn.path / "gt.json");
    std::map<int, std::vector<nlohmann::json>> by_frame;
    for (const auto &a : gt["annotations"])
        by_frame[a["image_id"].get<int>()].push_back(a);

    long changed_outside = 0, pixels_outside = 0, changed_inside = 0, pixels_inside = 0;
    const cv::Mat near = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(21, 21));
    for (int f = 0; f < kFrames; ++f) {
        cv::Mat difference, changed;
        cv::absdiff(with[f], without[f], difference);
        cv::Mat channels[3];
        cv::split(difference, channels);
        changed = cv::max(cv::max(channels[0], channels[1]), channels[2]) > 2;

        const cv::Mat labels = read_labels(drawn.path, f);
        const cv::Mat object = labels > 0;
        cv::Mat around;
        cv::dilate(object, around, near); // blur reaches 6 px, anti-aliased edges 1-2 px more
        pixels_outside += cv::countNonZero(~around);
        changed_outside += cv::countNonZero(changed & ~around);

        for (const auto &a : by_frame[f]) {
            if (a["iscrowd"] != 0)
                continue;
            const cv::Mat mine = labels == a["track_id"].get<int>() + 1;
            pixels_inside += cv::countNonZero(mine);
            changed_inside += cv::countNonZero(changed & mine);
        }
    }
    ASSERT_GT(pixels_inside, 0);
    EXPECT_EQ(changed_outside, 0) << "of " << pixels_outside << " pixels away from any object";
    EXPECT_GT(static_cast<double>(changed_inside) / pixels_inside, 0.7)
        << changed_inside << " of " << pixels_inside << " object pixels changed";
}

} // namespace
} // namespace tierd::videogen_test
