// Feature maps on the offload wire (docs/feature-fusion.md): 8-bit codes per channel, the
// whole map or only the cells inside the sender's boxes, inside a "TDR1" reply. Round trips
// keep every value within half a code step; cells not sent decode to NaN; anything
// malformed is refused with a reason.
#include "agent/pipeline/feature_codec.hpp"
#include "agent/pipeline/offload_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace tierd {
namespace {

constexpr int kC = 8, kH = 11, kW = 20;

// A ReLU-like map: about half the values 0, the rest spread over each channel's range.
std::vector<float> relu_map(unsigned seed = 3) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    std::vector<float> v(kC * kH * kW);
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = std::max(0.0f, n(rng) * (1.0f + static_cast<float>(i / (kH * kW))));
    return v;
}

float channel_step(const std::vector<float> &v, int c) {
    float lo = v[c * kH * kW], hi = lo;
    for (int i = 0; i < kH * kW; ++i) {
        lo = std::min(lo, v[c * kH * kW + i]);
        hi = std::max(hi, v[c * kH * kW + i]);
    }
    return (hi - lo) / 255.0f;
}

TEST(FeatureCodec, TheWholeMapComesBackWithinHalfACodeStep) {
    const std::vector<float> map = relu_map();
    const std::string bytes = encode_feature_map(map.data(), kC, kH, kW, FeatureCompression::whole);
    EXPECT_LT(bytes.size(), map.size()); // 8 bits a value, then deflated
    std::vector<float> out;
    std::string error;
    ASSERT_TRUE(decode_feature_map(bytes, kC, kH, kW, FeatureCompression::whole, out, error))
        << error;
    ASSERT_EQ(out.size(), map.size());
    for (int c = 0; c < kC; ++c) {
        const float tolerance = channel_step(map, c) * 0.5f + 1e-6f;
        for (int i = 0; i < kH * kW; ++i)
            ASSERT_NEAR(out[c * kH * kW + i], map[c * kH * kW + i], tolerance);
    }
}

TEST(FeatureCodec, RegionsSendOnlyTheCellsInsideTheBoxesAndTheRestIsNaN) {
    const std::vector<float> map = relu_map();
    // A 640x360 frame over the 20 x 11 grid: 32 x 32.7 pixels a cell. One box scoring
    // enough, one below kFeatureRegionScore.
    const tierd_detection boxes[2] = {{100, 100, 60, 40, 1, 0.5f, -1, 0},
                                      {500, 10, 50, 50, 2, 0.05f, -1, 0}};
    const auto cells = feature_region_cells(boxes, 2, 640, 360, kH, kW);
    // x 100..160 -> cells 3..4 (5 exclusive), +1 margin: 2..5; y 100..140 -> 3..4, +1: 2..5.
    int set = 0;
    for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) {
            const bool inside = x >= 2 && x <= 5 && y >= 2 && y <= 5;
            EXPECT_EQ(cells[y * kW + x] != 0, inside) << x << "," << y;
            set += cells[y * kW + x];
        }
    const std::string regions =
        encode_feature_map(map.data(), kC, kH, kW, FeatureCompression::regions, cells);
    const std::string whole = encode_feature_map(map.data(), kC, kH, kW, FeatureCompression::whole);
    EXPECT_LT(regions.size(), whole.size() / 2);
    std::vector<float> out;
    std::string error;
    ASSERT_TRUE(decode_feature_map(regions, kC, kH, kW, FeatureCompression::regions, out, error))
        << error;
    int finite = 0;
    for (int c = 0; c < kC; ++c)
        for (int i = 0; i < kH * kW; ++i) {
            const float v = out[c * kH * kW + i];
            if (cells[i]) {
                ++finite;
                EXPECT_NEAR(v, map[c * kH * kW + i], channel_step(map, c) * 0.5f + 1e-6f);
            } else {
                EXPECT_TRUE(std::isnan(v));
            }
        }
    EXPECT_EQ(finite, set * kC);
}

TEST(FeatureCodec, MalformedDataIsRefusedWithAReason) {
    const std::vector<float> map = relu_map();
    const std::string bytes = encode_feature_map(map.data(), kC, kH, kW, FeatureCompression::whole);
    std::vector<float> out;
    std::string error;
    // Not zlib.
    EXPECT_FALSE(
        decode_feature_map("not zlib at all", kC, kH, kW, FeatureCompression::whole, out, error));
    EXPECT_FALSE(error.empty());
    // Another shape than the one encoded: too few or too many bytes inflate.
    error.clear();
    EXPECT_FALSE(decode_feature_map(bytes, kC, kH, kW + 1, FeatureCompression::whole, out, error));
    EXPECT_NE(error.find("match"), std::string::npos) << error;
    error.clear();
    EXPECT_FALSE(decode_feature_map(bytes, kC, kH, kW - 1, FeatureCompression::whole, out, error));
    EXPECT_FALSE(error.empty());
    // Truncated.
    error.clear();
    EXPECT_FALSE(decode_feature_map(std::string_view(bytes).substr(0, bytes.size() / 2), kC, kH, kW,
                                    FeatureCompression::whole, out, error));
    EXPECT_FALSE(error.empty());
    // A shape out of bounds, and compression none.
    EXPECT_FALSE(decode_feature_map(bytes, 0, kH, kW, FeatureCompression::whole, out, error));
    EXPECT_FALSE(decode_feature_map(bytes, kC, kH, kW, FeatureCompression::none, out, error));
    // The encoder refuses what it cannot send.
    std::vector<float> bad = map;
    bad[17] = std::nanf("");
    EXPECT_THROW(encode_feature_map(bad.data(), kC, kH, kW, FeatureCompression::whole),
                 std::invalid_argument);
    EXPECT_THROW(encode_feature_map(map.data(), kC, kH, kW, FeatureCompression::regions, {1, 0}),
                 std::invalid_argument);
}

TEST(FeatureCodec, ARequestAsksForFeaturesAndAReplyCarriesThem) {
    OffloadRequest req;
    req.task_id = "cam-1-7-key";
    req.device_id = "cam-1";
    req.model = "det-heavy";
    req.image = cv::Mat(36, 64, CV_8UC3, cv::Scalar(10, 20, 30));
    req.features = FeatureCompression::regions;
    std::string error;
    auto back = decode_offload_request(encode_offload_request(req), error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->features, FeatureCompression::regions);
    req.features = FeatureCompression::none;
    back = decode_offload_request(encode_offload_request(req), error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->features, FeatureCompression::none);

    const std::vector<float> map = relu_map();
    OffloadReply reply;
    reply.task_id = "cam-1-7-key";
    reply.device_id = "edge-1";
    reply.ok = true;
    reply.model = "det-heavy";
    reply.detections = {{1, 2, 30, 40, 3, 0.9f, -1, 0}};
    reply.image_width = 640;
    reply.image_height = 360;
    reply.features = FeatureCompression::whole;
    reply.feature_shape = {kC, kH, kW};
    reply.feature_bytes = encode_feature_map(map.data(), kC, kH, kW, FeatureCompression::whole);
    const std::string wire = encode_offload_reply(reply);
    EXPECT_EQ(wire.substr(0, 4), "TDR1");
    auto got = decode_offload_reply(wire, error);
    ASSERT_TRUE(got) << error;
    EXPECT_EQ(got->features, FeatureCompression::whole);
    EXPECT_EQ(got->feature_shape, (std::vector<int>{kC, kH, kW}));
    EXPECT_EQ(got->feature_bytes, reply.feature_bytes);
    ASSERT_EQ(got->detections.size(), 1u);
    EXPECT_EQ(got->detections[0].class_id, 3);

    // Without features the reply stays plain JSON, as before.
    reply.features = FeatureCompression::none;
    EXPECT_EQ(encode_offload_reply(reply).front(), '{');
}

TEST(FeatureCodec, AMalformedFeatureReplyIsRefused) {
    const std::vector<float> map = relu_map();
    OffloadReply reply;
    reply.task_id = "t";
    reply.ok = true;
    reply.features = FeatureCompression::whole;
    reply.feature_shape = {kC, kH, kW};
    reply.feature_bytes = encode_feature_map(map.data(), kC, kH, kW, FeatureCompression::whole);
    const std::string wire = encode_offload_reply(reply);
    std::string error;
    // Bytes cut short: the header's count no longer matches.
    EXPECT_FALSE(decode_offload_reply(wire.substr(0, wire.size() - 3), error));
    EXPECT_NE(error.find("bytes"), std::string::npos) << error;
    // A header length past the end, and a payload too short for one.
    std::string bad = wire;
    bad[4] = '\x7f';
    EXPECT_FALSE(decode_offload_reply(bad, error));
    EXPECT_FALSE(decode_offload_reply("TDR1\x00", error));
    // A framed reply without "features", and a JSON one claiming features.
    const std::string plain = R"({"v":1,"task_id":"t","ok":true,"top_class":-1,"top_score":0})";
    std::string framed = "TDR1";
    for (int shift = 24; shift >= 0; shift -= 8)
        framed.push_back(static_cast<char>((plain.size() >> shift) & 0xff));
    framed += plain + "xyz";
    EXPECT_FALSE(decode_offload_reply(framed, error));
    EXPECT_FALSE(
        decode_offload_reply(R"({"v":1,"task_id":"t","ok":true,"top_class":-1,"top_score":0,)"
                             R"("features":{"compression":"whole","shape":[1,1,1],"bytes":0}})",
                             error));
    // An unknown compression, a bad shape.
    for (const char *f : {R"({"compression":"jpeg","shape":[1,1,1],"bytes":3})",
                          R"({"compression":"whole","shape":[1,1],"bytes":3})",
                          R"({"compression":"whole","shape":[0,1,1],"bytes":3})"}) {
        const std::string doc = std::string(R"({"v":1,"task_id":"t","ok":true,"top_class":-1,)") +
                                R"("top_score":0,"features":)" + f + "}";
        std::string msg = "TDR1";
        for (int shift = 24; shift >= 0; shift -= 8)
            msg.push_back(static_cast<char>((doc.size() >> shift) & 0xff));
        msg += doc + "abc";
        EXPECT_FALSE(decode_offload_reply(msg, error)) << f;
    }
}

} // namespace
} // namespace tierd
