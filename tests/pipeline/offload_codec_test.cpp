// The offload wire format: round trips, and every malformed request or reply is refused
// with a reason instead of crashing.
#include "agent/pipeline/offload_codec.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tierd {
namespace {

OffloadRequest sample(int channels) {
    OffloadRequest r;
    r.task_id = "dev-1-7";
    r.device_id = "dev-1";
    r.model = "lenet-s";
    r.deadline_ms = 250;
    r.image = cv::Mat(3, 5, CV_8UC(channels));
    for (int i = 0; i < static_cast<int>(r.image.total()) * channels; ++i)
        r.image.data[i] = static_cast<uchar>(i * 7);
    return r;
}

TEST(OffloadCodec, RequestRoundTripsGrayAndBgr) {
    for (int channels : {1, 3}) {
        auto in = sample(channels);
        std::string error;
        auto out = decode_offload_request(encode_offload_request(in), error);
        ASSERT_TRUE(out) << error;
        EXPECT_EQ(out->task_id, in.task_id);
        EXPECT_EQ(out->device_id, in.device_id);
        EXPECT_EQ(out->model, in.model);
        EXPECT_DOUBLE_EQ(out->deadline_ms, 250);
        ASSERT_EQ(out->image.channels(), channels);
        EXPECT_EQ(cv::norm(out->image, in.image, cv::NORM_INF), 0.0);
    }
}

TEST(OffloadCodec, NonContinuousImageIsPackedWithoutPadding) {
    cv::Mat big(6, 8, CV_8UC1, cv::Scalar(9));
    auto in = sample(1);
    in.image = big(cv::Rect(1, 1, 5, 3)); // a view with a stride of 8
    std::string error;
    auto out = decode_offload_request(encode_offload_request(in), error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->image.cols, 5);
    EXPECT_EQ(cv::norm(out->image, in.image, cv::NORM_INF), 0.0);
}

TEST(OffloadCodec, MalformedRequestsAreRefusedWithAReason) {
    const std::string good = encode_offload_request(sample(1));
    struct Case {
        std::string payload;
        std::string reason;
    };
    std::string bad_len = good;
    bad_len[4] = '\x7f';
    std::string short_pixels = good.substr(0, good.size() - 1);
    std::string not_json = good;
    not_json[8] = 'x';
    const Case cases[] = {{"", "magic"},
                          {"TDI1", "magic"},
                          {"XXXX" + good.substr(4), "magic"},
                          {bad_len, "runs past"},
                          {short_pixels, "pixel data is"},
                          {not_json, "not a JSON object"}};
    for (const auto &c : cases) {
        std::string error;
        EXPECT_FALSE(decode_offload_request(c.payload, error));
        EXPECT_NE(error.find(c.reason), std::string::npos) << error;
    }
}

std::string with_header(const std::string &header, std::size_t pixels) {
    std::string out = "TDI1";
    const auto len = static_cast<uint32_t>(header.size());
    out += static_cast<char>(len >> 24);
    out += static_cast<char>(len >> 16);
    out += static_cast<char>(len >> 8);
    out += static_cast<char>(len);
    return out + header + std::string(pixels, '\0');
}

TEST(OffloadCodec, HeaderFieldsAreChecked) {
    std::string error;
    EXPECT_FALSE(decode_offload_request(
        with_header(R"({"task_id":"t","format":"rgba","width":2,"height":2})", 16), error));
    EXPECT_NE(error.find("rgba"), std::string::npos) << error;
    EXPECT_FALSE(decode_offload_request(
        with_header(R"({"task_id":"t","format":"gray8","width":100000,"height":100000})", 0),
        error));
    EXPECT_NE(error.find("megapixels"), std::string::npos) << error;
    EXPECT_FALSE(decode_offload_request(
        with_header(R"({"format":"gray8","width":2,"height":2})", 4), error));
    EXPECT_NE(error.find("task_id"), std::string::npos) << error;
    EXPECT_FALSE(decode_offload_request(
        with_header(R"({"task_id":"t","format":"gray8","width":"2","height":2})", 4), error));
    EXPECT_NE(error.find("header"), std::string::npos) << error;
}

TEST(OffloadCodec, RepliesRoundTripAndBadOnesAreRefused) {
    OffloadReply ok;
    ok.task_id = "t1";
    ok.device_id = "edge-1";
    ok.ok = true;
    ok.top_class = 3;
    ok.top_score = 0.5f;
    ok.scores = {0.1f, 0.2f, 0.2f, 0.5f};
    ok.model = "resnet-8";
    ok.compute_ms = 1.5;
    ok.energy_j = 0.01;
    ok.energy_source = "estimated:x86-edge-server";
    std::string error;
    auto back = decode_offload_reply(encode_offload_reply(ok), error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->top_class, 3);
    EXPECT_EQ(back->scores.size(), 4u);
    EXPECT_EQ(back->energy_source, ok.energy_source);

    OffloadReply busy;
    busy.task_id = "t2";
    busy.error_code = "busy";
    busy.error_message = "64 requests in flight";
    back = decode_offload_reply(encode_offload_reply(busy), error);
    ASSERT_TRUE(back) << error;
    EXPECT_FALSE(back->ok);
    EXPECT_EQ(back->error_code, "busy");

    EXPECT_FALSE(decode_offload_reply("{", error));
    EXPECT_FALSE(decode_offload_reply(R"({"ok":true})", error));
    EXPECT_NE(error.find("task_id"), std::string::npos) << error;
    EXPECT_FALSE(decode_offload_reply(R"({"task_id":"t","ok":true,"top_class":"x"})", error));
}

} // namespace
} // namespace tierd
