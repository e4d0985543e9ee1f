// Video frames on the offload wire (ABI 1.4): frames travel up as JPEG, replies carry a
// detector's boxes. Real libjpeg, real frames (a synthetic scene with edges and texture).
#include "agent/pipeline/jpeg_codec.hpp"
#include "agent/pipeline/offload_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace tierd {
namespace {

// A 640x360 BGR frame with gradients and blocks, as a camera frame would have.
cv::Mat test_frame(int width = 640, int height = 360) {
    cv::Mat m(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            auto *p = m.ptr<cv::Vec3b>(y) + x;
            const bool block = ((x / 40) + (y / 40)) % 2 == 0;
            (*p)[0] = static_cast<uchar>(x * 255 / width);
            (*p)[1] = static_cast<uchar>(y * 255 / height);
            (*p)[2] = static_cast<uchar>(block ? 200 : 40);
        }
    return m;
}

double mean_abs_difference(const cv::Mat &a, const cv::Mat &b) {
    double sum = 0;
    for (int y = 0; y < a.rows; ++y)
        for (int x = 0; x < a.cols * a.channels(); ++x)
            sum += std::abs(int{a.ptr<uchar>(y)[x]} - int{b.ptr<uchar>(y)[x]});
    return sum / (static_cast<double>(a.total()) * a.channels());
}

OffloadRequest frame_request(const cv::Mat &frame, int quality) {
    OffloadRequest r;
    r.task_id = "cam-1-7-key";
    r.device_id = "cam-1";
    r.model = "det-heavy";
    r.budget_ms = 800;
    r.image = frame;
    r.jpeg_quality = quality;
    return r;
}

TEST(VideoOffloadCodec, AFrameTravelsAsAJpegAFractionOfItsRawSize) {
    const cv::Mat frame = test_frame();
    const std::string raw = encode_offload_request(frame_request(frame, 0));
    const std::string jpeg = encode_offload_request(frame_request(frame, 75));
    EXPECT_GT(raw.size(), frame.total() * 3);
    EXPECT_LT(jpeg.size(), raw.size() / 5) << "q75 JPEG of a 640x360 frame";
    std::string error;
    auto decoded = decode_offload_request(jpeg, error);
    ASSERT_TRUE(decoded) << error;
    EXPECT_EQ(decoded->task_id, "cam-1-7-key");
    EXPECT_EQ(decoded->model, "det-heavy");
    ASSERT_EQ(decoded->image.cols, 640);
    ASSERT_EQ(decoded->image.rows, 360);
    ASSERT_EQ(decoded->image.channels(), 3);
    // Lossy, but close: a mean error of a few grey levels at q75.
    EXPECT_LT(mean_abs_difference(decoded->image, frame), 6.0);
}

TEST(VideoOffloadCodec, HigherQualityIsCloserAndLarger) {
    const cv::Mat frame = test_frame();
    const std::string low = encode_jpeg(frame, 30), high = encode_jpeg(frame, 95);
    EXPECT_LT(low.size(), high.size());
    cv::Mat a, b;
    std::string error;
    ASSERT_TRUE(decode_jpeg(low, 640, 360, a, error)) << error;
    ASSERT_TRUE(decode_jpeg(high, 640, 360, b, error)) << error;
    EXPECT_LT(mean_abs_difference(b, frame), mean_abs_difference(a, frame));
}

TEST(VideoOffloadCodec, AGrayFrameStaysGray) {
    cv::Mat gray(90, 160, CV_8UC1);
    for (int y = 0; y < gray.rows; ++y)
        for (int x = 0; x < gray.cols; ++x)
            gray.at<uchar>(y, x) = static_cast<uchar>((x * 3 + y * 5) % 256);
    std::string error;
    auto decoded = decode_offload_request(encode_offload_request(frame_request(gray, 90)), error);
    ASSERT_TRUE(decoded) << error;
    EXPECT_EQ(decoded->image.channels(), 1);
    EXPECT_EQ(decoded->image.size(), gray.size());
}

// The header's size is what the server checks against its limits before decoding, so
// a JPEG whose own size differs is refused, before any pixel buffer exists.
TEST(VideoOffloadCodec, AJpegLargerThanItsHeaderSaysIsRefusedUndecoded) {
    std::string payload = encode_offload_request(frame_request(test_frame(), 75));
    const std::string declared = "\"width\":640";
    const auto at = payload.find(declared);
    ASSERT_NE(at, std::string::npos);
    payload.replace(at, declared.size(), "\"width\":64 "); // same header length
    std::string error;
    EXPECT_FALSE(decode_offload_header(payload, error));
    EXPECT_NE(error.find("the JPEG is 640x360"), std::string::npos) << error;
}

TEST(VideoOffloadCodec, BytesThatAreNotAJpegAreRefusedWithTheReason) {
    std::string payload = encode_offload_request(frame_request(test_frame(), 75));
    const std::size_t body = payload.size() - encode_jpeg(test_frame(), 75).size();
    payload[body] = 'X'; // the JPEG's SOI marker
    std::string error;
    EXPECT_FALSE(decode_offload_header(payload, error));
    EXPECT_NE(error.find("not a readable JPEG"), std::string::npos) << error;
}

TEST(VideoOffloadCodec, AJpegCutShortIsRefusedByTheBodyDecoder) {
    const std::string full = encode_offload_request(frame_request(test_frame(), 75));
    // The header and the JPEG's own header survive; the entropy-coded data is cut.
    const std::string cut = full.substr(0, full.size() - full.size() / 3);
    std::string error;
    auto header = decode_offload_header(cut, error);
    ASSERT_TRUE(header) << error;
    EXPECT_THROW(decode_offload_body(*header, cut), std::runtime_error);
    // Both halves at once (the input topic's path) refuse it with the reason, no throw.
    EXPECT_FALSE(decode_offload_request(cut, error));
    EXPECT_NE(error.find("corrupt JPEG"), std::string::npos) << error;
}

TEST(VideoOffloadCodec, AReplyCarriesBoxesThatRoundTrip) {
    OffloadReply reply;
    reply.task_id = "cam-1-7-key";
    reply.device_id = "edge-1";
    reply.ok = true;
    reply.model = "det-heavy";
    reply.image_width = 640;
    reply.image_height = 360;
    reply.detections.push_back({10.5f, 20.25f, 64.f, 48.f, 3, 0.875f, -1, 0});
    reply.detections.push_back({300.f, 100.f, 120.f, 90.f, 9, 0.5f, -1, 0});
    std::string error;
    auto back = decode_offload_reply(encode_offload_reply(reply), error);
    ASSERT_TRUE(back) << error;
    ASSERT_EQ(back->detections.size(), 2u);
    EXPECT_FLOAT_EQ(back->detections[0].x, 10.5f);
    EXPECT_FLOAT_EQ(back->detections[0].y, 20.25f);
    EXPECT_EQ(back->detections[1].class_id, 9);
    EXPECT_FLOAT_EQ(back->detections[1].score, 0.5f);
    EXPECT_EQ(back->detections[0].flags, TIERD_DETECTION_UPSTREAM);
    EXPECT_EQ(back->image_width, 640);
    EXPECT_EQ(back->image_height, 360);
}

TEST(VideoOffloadCodec, AReplyWithNoBoxesSaysSoAndAClassifierReplyHasNone) {
    OffloadReply reply;
    reply.task_id = "t";
    reply.ok = true;
    reply.image_width = 640;
    reply.image_height = 360;
    std::string error;
    const std::string empty_text = encode_offload_reply(reply);
    EXPECT_NE(empty_text.find("\"detections\":[]"), std::string::npos) << empty_text;
    reply.image_width = reply.image_height = 0;
    EXPECT_EQ(encode_offload_reply(reply).find("detections"), std::string::npos);
}

TEST(VideoOffloadCodec, BadBoxesInAReplyAreRefused) {
    const std::string head = R"({"v":1,"task_id":"t","ok":true,"top_class":-1,"top_score":0,)";
    for (const std::string boxes :
         {R"("detections":[[1,2,3]],"image_size":[640,360])",
          R"("detections":[[1,2,0,4,1,0.5]],"image_size":[640,360])",
          R"("detections":[[1,2,3,4,-1,0.5]],"image_size":[640,360])",
          R"("detections":[[1,2,3,4,1,1.5]],"image_size":[640,360])",
          R"("detections":[[1,2,3,4,1,0.5]],"image_size":[0,360])",
          R"("detections":[[1,2,3,4,1,0.5]])", R"("detections":{"a":1},"image_size":[1,1])"}) {
        std::string error;
        EXPECT_FALSE(decode_offload_reply(head + boxes + "}", error)) << boxes;
        EXPECT_FALSE(error.empty());
    }
}

} // namespace
} // namespace tierd
