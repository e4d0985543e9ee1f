// Region re-send (DDS-style; agent/pipeline/region_resend.hpp, docs/feature-fusion.md): which
// regions are asked for again, how the two rounds' boxes merge, the cache that keeps a
// first round for its second, and both rounds on the offload wire with real JPEGs.
#include "agent/pipeline/jpeg_codec.hpp"
#include "agent/pipeline/offload_codec.hpp"
#include "agent/pipeline/region_resend.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <string>
#include <vector>

namespace tierd {
namespace {

tierd_detection box(float x, float y, float w, float h, float score, int cls = 1) {
    return tierd_detection{x, y, w, h, cls, score, -1, 0};
}

cv::Mat textured(int width, int height) {
    cv::Mat m(height, width, CV_8UC3);
    cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
    return m;
}

TEST(RegionResend, OnlyUncertainBoxesAreAskedForGrownClippedAndMerged) {
    const cv::Size frame(640, 360);
    const std::vector<tierd_detection> boxes = {
        box(100, 100, 40, 40, 0.9f),  // sure: kept as it is
        box(300, 200, 40, 20, 0.3f),  // uncertain: asked for, grown by 10 x 5 each side
        box(620, 340, 40, 40, 0.4f),  // uncertain, at the corner: clipped to the frame
        box(500, 50, 10, 10, 0.1f),   // below unsure: dropped, not asked for
        box(310, 205, 40, 20, 0.26f), // overlaps the second: merged with it
    };
    const auto regions = uncertain_regions(boxes, 0.5f, 0.25f, frame);
    ASSERT_EQ(regions.size(), 2u);
    EXPECT_EQ(regions[0], cv::Rect(cv::Point(610, 330), cv::Point(640, 360)));
    EXPECT_EQ(regions[1], cv::Rect(cv::Point(290, 195), cv::Point(360, 230)));
    EXPECT_TRUE(uncertain_regions({box(1, 1, 5, 5, 0.9f)}, 0.5f, 0.25f, frame).empty());
    // At most max_regions, the highest-scoring first.
    std::vector<tierd_detection> many;
    for (int i = 0; i < 10; ++i)
        many.push_back(box(10.0f + 60 * i, 10, 20, 20, 0.3f + 0.01f * i));
    const auto few = uncertain_regions(many, 0.5f, 0.25f, frame, 0.25f, 3);
    ASSERT_EQ(few.size(), 3u);
    EXPECT_EQ(few[0].x, 10 + 60 * 9 - 5);
}

TEST(RegionResend, AnObjectASureBoxFoundIsNotAskedForAgain) {
    const cv::Size frame(640, 360);
    // Another class's guess on the sure box's object (IoU 0.86), and an unsure box that
    // only touches it (IoU 0.14): the first asks for nothing, the second for its region.
    const std::vector<tierd_detection> boxes = {
        box(100, 100, 40, 40, 0.9f, 3),
        box(102, 102, 40, 38, 0.45f, 5),
        box(130, 100, 40, 40, 0.4f, 2),
    };
    const auto regions = uncertain_regions(boxes, 0.5f, 0.25f, frame);
    ASSERT_EQ(regions.size(), 1u);
    EXPECT_EQ(regions[0], cv::Rect(cv::Point(120, 90), cv::Point(180, 150)));
}

TEST(RegionResend, TheSecondRoundReplacesTheFirstInsideTheRegions) {
    const std::vector<cv::Rect> regions = {cv::Rect(280, 180, 80, 60)};
    const auto merged =
        merge_resend({box(100, 100, 40, 40, 0.9f), box(300, 200, 40, 20, 0.3f)},
                     {box(302, 198, 40, 24, 0.8f), box(100, 100, 40, 40, 0.7f)}, regions);
    ASSERT_EQ(merged.size(), 2u);
    EXPECT_FLOAT_EQ(merged[0].score, 0.9f); // first round, outside
    EXPECT_FLOAT_EQ(merged[1].score, 0.8f); // second round, inside
    EXPECT_FLOAT_EQ(merged[1].x, 302.0f);
}

TEST(RegionResend, TheCacheServesASecondRoundOnceAndForgetsWhatExpired) {
    ResendCache cache(2);
    ResendState s;
    s.frame = cv::Mat(4, 4, CV_8UC3, cv::Scalar::all(1));
    s.expires_ns = 1000;
    cache.put("a", s, 0);
    EXPECT_TRUE(cache.take("a", 10).has_value());
    EXPECT_FALSE(cache.take("a", 10).has_value()); // once
    cache.put("b", s, 0);
    EXPECT_FALSE(cache.take("b", 1000).has_value()); // expired
    // Bounded: the entry that expires first goes.
    s.expires_ns = 500;
    cache.put("c", s, 0);
    s.expires_ns = 900;
    cache.put("d", s, 0);
    s.expires_ns = 800;
    cache.put("e", s, 0);
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_FALSE(cache.take("c", 0).has_value());
    EXPECT_TRUE(cache.take("d", 0).has_value());
}

TEST(RegionResend, BothRoundsTravelOnTheWire) {
    // First round: the frame small and rough, the frame's size in the header.
    OffloadRequest first;
    first.task_id = "cam-1-9-key";
    first.device_id = "cam-1";
    first.model = "det-heavy";
    first.image = textured(640, 360);
    first.jpeg_quality = 75;
    first.resend = ResendAsk{true, 640, 360, 0.5f, 0.25f};
    first.low_scale = 0.75;
    first.low_quality = 50;
    const std::string wire1 = encode_offload_request(first);
    first.resend.on = false;
    const std::string plain = encode_offload_request(first);
    EXPECT_LT(wire1.size(), plain.size() * 3 / 4);
    std::string error;
    auto got = decode_offload_request(wire1, error);
    ASSERT_TRUE(got) << error;
    EXPECT_TRUE(got->resend.on);
    EXPECT_EQ(got->resend.frame_width, 640);
    EXPECT_EQ(got->resend.frame_height, 360);
    EXPECT_FLOAT_EQ(got->resend.sure, 0.5f);
    EXPECT_EQ(got->image.cols, 480);
    EXPECT_EQ(got->image.rows, 270);

    // The reply asks for regions; they come back as JPEG crops.
    OffloadReply reply;
    reply.task_id = "cam-1-9-key";
    reply.ok = true;
    reply.resend = {cv::Rect(10, 20, 30, 40), cv::Rect(100, 100, 64, 32)};
    auto r = decode_offload_reply(encode_offload_reply(reply), error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->resend, reply.resend);

    OffloadRequest second;
    second.payload = OffloadRequest::Payload::regions;
    second.task_id = "cam-1-9-key";
    second.device_id = "cam-1";
    const cv::Mat frame = textured(640, 360);
    for (const cv::Rect &rect : reply.resend) {
        second.regions.push_back(rect);
        second.region_jpegs.push_back(encode_jpeg(frame(rect), 75));
    }
    auto back = decode_offload_request(encode_offload_request(second), error);
    ASSERT_TRUE(back) << error;
    ASSERT_EQ(back->regions, reply.resend);
    ASSERT_EQ(back->region_images.size(), 2u);
    EXPECT_EQ(back->region_images[1].size(), cv::Size(64, 32));
}

// A frame whose crops compress like a camera's (smooth), not like noise.
cv::Mat smooth(int width, int height) {
    cv::Mat m = textured(width, height);
    cv::GaussianBlur(m, m, cv::Size(15, 15), 5);
    return m;
}

TEST(RegionResend, PackedRegionsDoNotOverlapAndSitOnWholeBlocks) {
    cv::RNG rng(17);
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<cv::Rect> regions;
        const int n = rng.uniform(1, 33);
        double area = 0;
        for (int i = 0; i < n; ++i) {
            regions.emplace_back(rng.uniform(0, 500), rng.uniform(0, 300), rng.uniform(1, 220),
                                 rng.uniform(1, 160));
            area +=
                ((regions.back().width + 15) / 16 * 16) * ((regions.back().height + 15) / 16 * 16);
        }
        const Mosaic m = pack_regions(regions);
        ASSERT_EQ(m.at.size(), regions.size());
        const cv::Rect inside(cv::Point(), m.size);
        for (std::size_t i = 0; i < regions.size(); ++i) {
            const cv::Rect placed(m.at[i], regions[i].size());
            EXPECT_EQ(placed & inside, placed) << trial << ":" << i;
            EXPECT_EQ(m.at[i].x % 16, 0);
            EXPECT_EQ(m.at[i].y % 16, 0);
            // Whole 16-pixel blocks: no block holds two crops.
            const cv::Rect blocks(m.at[i], cv::Size((regions[i].width + 15) / 16 * 16,
                                                    (regions[i].height + 15) / 16 * 16));
            for (std::size_t j = 0; j < i; ++j) {
                const cv::Rect other(m.at[j], cv::Size((regions[j].width + 15) / 16 * 16,
                                                       (regions[j].height + 15) / 16 * 16));
                EXPECT_EQ((blocks & other).area(), 0) << trial << ": " << i << " and " << j;
            }
        }
        // Not much wasted: shelves of the tallest first.
        EXPECT_LE(static_cast<double>(m.size.area()), 2.5 * area) << trial;
    }
    EXPECT_EQ(pack_regions({}).size, cv::Size());
}

TEST(RegionResend, AMosaicTravelsAsOneJpegAndComesBackAsItsRegions) {
    const cv::Mat frame = smooth(640, 360);
    OffloadRequest second;
    second.payload = OffloadRequest::Payload::regions;
    second.task_id = "cam-1-9-key";
    second.device_id = "cam-1";
    second.regions = {cv::Rect(10, 20, 70, 40), cv::Rect(300, 100, 64, 90),
                      cv::Rect(500, 250, 110, 60), cv::Rect(200, 300, 50, 50)};
    for (const cv::Rect &rect : second.regions)
        second.region_jpegs.push_back(encode_jpeg(frame(rect), 75));
    const std::string one_each = encode_offload_request(second);
    const Mosaic m = pack_regions(second.regions);
    second.mosaic_size = m.size;
    second.mosaic_at = m.at;
    second.mosaic_jpeg = encode_jpeg(compose_mosaic(frame, second.regions, m), 75);
    const std::string mosaic = encode_offload_request(second);
    // One header and one set of tables in place of four.
    EXPECT_LT(mosaic.size() + 1000, one_each.size()) << mosaic.size() << " vs " << one_each.size();
    std::string error;
    auto back = decode_offload_request(mosaic, error);
    ASSERT_TRUE(back) << error;
    ASSERT_EQ(back->regions, second.regions);
    ASSERT_EQ(back->region_images.size(), second.regions.size());
    for (std::size_t i = 0; i < second.regions.size(); ++i) {
        ASSERT_EQ(back->region_images[i].size(), second.regions[i].size());
        cv::Mat diff;
        cv::absdiff(back->region_images[i], frame(second.regions[i]), diff);
        EXPECT_LT(cv::mean(diff)[0], 4.0) << i; // JPEG at 75, nothing else
    }
}

TEST(RegionResend, MalformedMosaicsAreRefusedWithAReason) {
    const cv::Mat frame = smooth(200, 100);
    OffloadRequest second;
    second.payload = OffloadRequest::Payload::regions;
    second.task_id = "t";
    second.regions = {cv::Rect(0, 0, 30, 40), cv::Rect(50, 50, 20, 20)};
    const Mosaic m = pack_regions(second.regions);
    second.mosaic_size = m.size;
    second.mosaic_at = m.at;
    second.mosaic_jpeg = encode_jpeg(compose_mosaic(frame, second.regions, m), 75);
    std::string error;
    EXPECT_TRUE(decode_offload_request(encode_offload_request(second), error)) << error;
    // A region placed past the mosaic's edge.
    OffloadRequest outside = second;
    outside.mosaic_at[1] = cv::Point(m.size.width - 10, 0);
    EXPECT_FALSE(decode_offload_request(encode_offload_request(outside), error));
    EXPECT_NE(error.find("outside the mosaic"), std::string::npos) << error;
    // A JPEG that is not the size the header gives.
    OffloadRequest wrong = second;
    wrong.mosaic_size = cv::Size(m.size.width + 16, m.size.height);
    EXPECT_FALSE(decode_offload_request(encode_offload_request(wrong), error));
    EXPECT_NE(error.find("mosaic's JPEG"), std::string::npos) << error;
    // Cut short.
    const std::string wire = encode_offload_request(second);
    EXPECT_FALSE(decode_offload_request(wire.substr(0, wire.size() - 40), error));
}

TEST(RegionResend, MalformedRoundsAreRefusedWithAReason) {
    std::string error;
    // A region whose JPEG is not its size, and bytes that do not add up.
    OffloadRequest second;
    second.payload = OffloadRequest::Payload::regions;
    second.task_id = "t";
    second.regions = {cv::Rect(0, 0, 30, 40)};
    second.region_jpegs = {encode_jpeg(textured(31, 40), 75)};
    EXPECT_FALSE(decode_offload_request(encode_offload_request(second), error));
    EXPECT_NE(error.find("31x40"), std::string::npos) << error;
    second.region_jpegs = {encode_jpeg(textured(30, 40), 75)};
    std::string wire = encode_offload_request(second);
    EXPECT_TRUE(decode_offload_request(wire, error)) << error;
    EXPECT_FALSE(decode_offload_request(wire + "x", error));
    EXPECT_FALSE(decode_offload_request(wire.substr(0, wire.size() - 5), error));
    // No regions at all cannot be encoded.
    second.regions.clear();
    second.region_jpegs.clear();
    EXPECT_THROW(encode_offload_request(second), std::invalid_argument);
    // A first round with thresholds the wrong way round.
    OffloadRequest first;
    first.task_id = "t";
    first.image = textured(64, 36);
    first.jpeg_quality = 75;
    first.resend = ResendAsk{true, 64, 36, 0.2f, 0.4f};
    EXPECT_FALSE(decode_offload_request(encode_offload_request(first), error));
    EXPECT_NE(error.find("unsure"), std::string::npos) << error;
    // A margin outside [0, 1]; the margin travels.
    first.resend = ResendAsk{true, 64, 36, 0.5f, 0.25f, 1.5f};
    EXPECT_FALSE(decode_offload_request(encode_offload_request(first), error));
    EXPECT_NE(error.find("margin"), std::string::npos) << error;
    first.resend.margin = 0.1f;
    auto margin = decode_offload_request(encode_offload_request(first), error);
    ASSERT_TRUE(margin) << error;
    EXPECT_FLOAT_EQ(margin->resend.margin, 0.1f);
    // A reply naming a region that is not [x, y, w, h].
    EXPECT_FALSE(decode_offload_reply(
        R"({"v":1,"task_id":"t","ok":true,"top_class":-1,"top_score":0,"resend":[[1,2,3]]})",
        error));
    EXPECT_FALSE(decode_offload_reply(
        R"({"v":1,"task_id":"t","ok":true,"top_class":-1,"top_score":0,"resend":[[1,2,0,5]]})",
        error));
}

} // namespace
} // namespace tierd
