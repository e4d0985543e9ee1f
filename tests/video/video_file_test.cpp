// The video file itself: MJPG frames are valid JPEGs that libjpeg decodes without a
// complaint (OpenCV 4.6's own MJPEG writer failed this: opencv/opencv#24171), of the
// frame size, as many as there are frames; the lossless codec gives back what was drawn.
#include "videogen_run.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

namespace tierd::videogen_test {
namespace {

TEST(VideogenVideo, EveryMjpgFrameIsAJpegLibjpegDecodesCleanly) {
    TempDir out;
    constexpr int kFrames = 40; // OpenCV's own writer damaged 2 of these 40 frames
    generate(out.path, 1, kFrames);
    const auto chunks = avi_video_chunks(out.path / "video.avi");
    ASSERT_EQ(chunks.size(), static_cast<size_t>(kFrames));
    std::vector<cv::Size> sizes;
    const std::string complaints = capture_stderr([&] {
        for (const auto &jpeg : chunks)
            sizes.push_back(cv::imdecode(jpeg, cv::IMREAD_COLOR).size());
    });
    EXPECT_EQ(complaints, "") << "libjpeg's warnings while decoding the frames";
    for (size_t i = 0; i < sizes.size(); ++i)
        EXPECT_EQ(sizes[i], cv::Size(640, 360)) << "frame " << i;
}

// FFV1 is lossless: the frames read back are the drawn frames, so the MJPG ones differ
// from them only by compression (no 16x16 block off by more than 30 levels on average).
TEST(VideogenVideo, MjpgFramesStayCloseToTheLosslessOnes) {
    TempDir mjpg, ffv1;
    generate(mjpg.path, 2, 20);
    generate(ffv1.path, 2, 20, {"--codec", "ffv1"});
    const auto lossy = read_frames(mjpg.path / "video.avi");
    const auto exact = read_frames(ffv1.path / "video.avi");
    ASSERT_EQ(lossy.size(), 20u);
    ASSERT_EQ(exact.size(), 20u);
    for (size_t f = 0; f < exact.size(); ++f) {
        cv::Mat difference;
        cv::absdiff(lossy[f], exact[f], difference);
        double worst = 0;
        for (int y = 0; y + 16 <= difference.rows; y += 16)
            for (int x = 0; x + 16 <= difference.cols; x += 16) {
                const cv::Scalar mean = cv::mean(difference(cv::Rect(x, y, 16, 16)));
                worst = std::max({worst, mean[0], mean[1], mean[2]});
            }
        EXPECT_LT(worst, 30) << "frame " << f;
    }
}

} // namespace
} // namespace tierd::videogen_test
