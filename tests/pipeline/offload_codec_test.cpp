// The offload wire format: round trips, and every malformed request or reply is refused
// with a reason instead of crashing.
#include "agent/pipeline/offload_codec.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace tierd {
namespace {

OffloadRequest sample(int channels) {
    OffloadRequest r;
    r.task_id = "dev-1-7";
    r.device_id = "dev-1";
    r.model = "lenet-s";
    r.budget_ms = 250;
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
        EXPECT_DOUBLE_EQ(out->budget_ms, 250);
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

// ---- split execution: tensor and probe requests ---------------------------------------

nlohmann::json header_of(const std::string &payload) {
    const auto *p = reinterpret_cast<const unsigned char *>(payload.data());
    const std::size_t len =
        (std::size_t{p[4]} << 24) | (std::size_t{p[5]} << 16) | (std::size_t{p[6]} << 8) | p[7];
    return nlohmann::json::parse(payload.substr(8, len));
}

std::string body_of(const std::string &payload) {
    const auto *p = reinterpret_cast<const unsigned char *>(payload.data());
    const std::size_t len =
        (std::size_t{p[4]} << 24) | (std::size_t{p[5]} << 16) | (std::size_t{p[6]} << 8) | p[7];
    return payload.substr(8 + len);
}

float bits_to_float(std::uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

std::uint32_t float_bits(float f) {
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
}

OffloadRequest tensor_sample(const std::string &wire) {
    OffloadRequest r;
    r.payload = OffloadRequest::Payload::tensor;
    r.task_id = "dev-1-8";
    r.device_id = "dev-1";
    r.model = "resnet-8";
    r.budget_ms = 120;
    r.cut_layer = 4;
    r.wire = wire;
    r.shape = {2, 3, 4};
    for (int i = 0; i < 24; ++i)
        r.tensor.push_back(static_cast<float>(i - 12) * 0.25f); // exact in f16
    return r;
}

TEST(OffloadCodec, HalfConversionIsExactForEveryHalf) {
    for (std::uint32_t h = 0; h <= 0xffff; ++h) {
        const float f = half_to_float(static_cast<std::uint16_t>(h));
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) {
            EXPECT_TRUE(std::isnan(f)) << h;
            EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f)))) << h;
            continue;
        }
        ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
    }
    EXPECT_EQ(half_to_float(0x3c00), 1.0f);
    EXPECT_EQ(half_to_float(0xc000), -2.0f);
    EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
    EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24)); // smallest subnormal
    EXPECT_EQ(half_to_float(0x03ff), std::ldexp(1023.0f, -24));
    EXPECT_EQ(half_to_float(0x7c00), std::numeric_limits<float>::infinity());
    EXPECT_EQ(half_to_float(0xfc00), -std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
}

TEST(OffloadCodec, HalfConversionRoundsToNearestEven) {
    // Between every two neighbouring finite halves (of either sign): the midpoint goes to
    // the even one, anything off the midpoint to the nearer one.
    for (std::uint32_t h = 0; h < 0x7bff; ++h) {
        for (std::uint32_t sign : {0u, 0x8000u}) {
            const auto lo = static_cast<std::uint16_t>(h | sign);
            const auto hi = static_cast<std::uint16_t>((h + 1) | sign);
            const float a = half_to_float(lo), b = half_to_float(hi);
            const float mid = a + (b - a) / 2; // exact: halves have 11 significant bits
            const std::uint16_t even = (h & 1u) ? hi : lo;
            ASSERT_EQ(float_to_half(mid), even) << "between 0x" << std::hex << lo;
            ASSERT_EQ(float_to_half(std::nextafter(mid, a)), lo) << std::hex << lo;
            ASSERT_EQ(float_to_half(std::nextafter(mid, b)), hi) << std::hex << lo;
        }
    }
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(float_to_half(65519.996f), 0x7bff);
    EXPECT_EQ(float_to_half(65520.0f), 0x7c00); // the tie above 65504 rounds to infinity
    EXPECT_EQ(float_to_half(1e6f), 0x7c00);
    EXPECT_EQ(float_to_half(-1e30f), 0xfc00);
    EXPECT_EQ(float_to_half(inf), 0x7c00);
    EXPECT_EQ(float_to_half(-inf), 0xfc00);
    EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000); // tie between 0 and 2^-24
    EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002); // tie between 1 and 2 units
    EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);
    EXPECT_EQ(float_to_half(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_EQ(float_to_half(-std::numeric_limits<float>::denorm_min()), 0x8000);
    EXPECT_EQ(float_to_half(std::ldexp(2047.0f, -25)), 0x0400); // rounds up into normals
    EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);
    EXPECT_EQ(float_to_half(0.1f), 0x2e66);
    EXPECT_EQ(float_to_half(-0.0f), 0x8000);
    EXPECT_EQ(float_to_half(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
}

TEST(OffloadCodec, HalfConversionMatchesOpenCv) {
    std::mt19937 rng(7);
    std::vector<float> values;
    for (int i = 0; i < 200000; ++i) {
        // Random bit patterns over the whole float range (NaN excluded) ...
        const float f = bits_to_float(static_cast<std::uint32_t>(rng()));
        if (!std::isnan(f))
            values.push_back(f);
    }
    std::uniform_real_distribution<float> small(-1e-4f, 1e-4f), unit(-70000.0f, 70000.0f);
    for (int i = 0; i < 100000; ++i) { // ... and the subnormal and normal half ranges
        values.push_back(small(rng));
        values.push_back(unit(rng));
    }
    cv::Mat in(1, static_cast<int>(values.size()), CV_32F, values.data()), half;
    in.convertTo(half, CV_16F);
    ASSERT_EQ(half.depth(), CV_16F);
    for (std::size_t i = 0; i < values.size(); ++i) {
        std::uint16_t ref;
        std::memcpy(&ref, half.ptr<std::uint16_t>(0) + i, sizeof ref);
        ASSERT_EQ(float_to_half(values[i]), ref)
            << values[i] << " (0x" << std::hex << float_bits(values[i]) << ")";
    }
    cv::Mat back;
    half.convertTo(back, CV_32F);
    for (std::size_t i = 0; i < values.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, half.ptr<std::uint16_t>(0) + i, sizeof h);
        ASSERT_EQ(float_bits(half_to_float(h)), float_bits(back.at<float>(0, static_cast<int>(i))));
    }
}

TEST(OffloadCodec, F16TensorRoundTripsLittleEndian) {
    auto in = tensor_sample("f16");
    const std::string wire = encode_offload_request(in);
    const auto header = header_of(wire);
    EXPECT_EQ(header.at("payload"), "tensor");
    EXPECT_EQ(header.at("cut"), 4);
    EXPECT_EQ(header.at("dtype"), "f16");
    EXPECT_EQ(header.at("shape"), nlohmann::json::array({2, 3, 4}));
    EXPECT_FALSE(header.contains("scale"));
    EXPECT_FALSE(header.contains("format"));
    const std::string body = body_of(wire);
    ASSERT_EQ(body.size(), tensor_wire_bytes(24, "f16"));
    // tensor[16] = 1.0 = 0x3c00, least significant byte first
    EXPECT_EQ(static_cast<unsigned char>(body[32]), 0x00);
    EXPECT_EQ(static_cast<unsigned char>(body[33]), 0x3c);

    std::string error;
    auto out = decode_offload_request(wire, error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->payload, OffloadRequest::Payload::tensor);
    EXPECT_EQ(out->task_id, in.task_id);
    EXPECT_EQ(out->model, in.model);
    EXPECT_DOUBLE_EQ(out->budget_ms, 120);
    EXPECT_EQ(out->cut_layer, 4);
    EXPECT_EQ(out->wire, "f16");
    EXPECT_EQ(out->shape, in.shape);
    EXPECT_EQ(out->tensor, in.tensor);
    EXPECT_TRUE(out->image.empty());

    // Values that are not halves come back rounded, within half a unit in the last place.
    in.tensor.clear();
    std::mt19937 rng(3);
    std::normal_distribution<float> act(0.0f, 10.0f);
    for (int i = 0; i < 24; ++i)
        in.tensor.push_back(act(rng));
    out = decode_offload_request(encode_offload_request(in), error);
    ASSERT_TRUE(out) << error;
    for (std::size_t i = 0; i < 24; ++i)
        EXPECT_NEAR(out->tensor[i], in.tensor[i], std::fabs(in.tensor[i]) / 2048) << i;
}

TEST(OffloadCodec, I8TensorIsSymmetricPerTensorQuantized) {
    auto in = tensor_sample("i8");
    in.shape = {5};
    in.tensor = {-2.0f, -1.0f, 0.0f, 0.5f, 2.0f};
    const std::string wire = encode_offload_request(in);
    const auto header = header_of(wire);
    EXPECT_EQ(header.at("dtype"), "i8");
    EXPECT_FLOAT_EQ(header.at("scale").get<float>(), 2.0f / 127);
    EXPECT_EQ(header.at("scale").get<float>(), i8_scale(in.tensor.data(), in.tensor.size()));
    const std::string body = body_of(wire);
    ASSERT_EQ(body.size(), 5u);
    // q = round(x / scale): -127, -63.5 -> -64 (half away from zero), 0, 31.75 -> 32, 127
    const std::int8_t expect[] = {-127, -64, 0, 32, 127};
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(static_cast<std::int8_t>(body[static_cast<std::size_t>(i)]), expect[i]) << i;

    std::string error;
    auto out = decode_offload_request(wire, error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->wire, "i8");
    EXPECT_EQ(out->shape, std::vector<int>{5});
    EXPECT_FLOAT_EQ(out->scale, 2.0f / 127);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(out->tensor[static_cast<std::size_t>(i)], expect[i] * out->scale);
        EXPECT_NEAR(out->tensor[static_cast<std::size_t>(i)],
                    in.tensor[static_cast<std::size_t>(i)], out->scale / 2 + 1e-6f);
    }

    // All zero: scale 1.
    in.tensor.assign(5, 0.0f);
    out = decode_offload_request(encode_offload_request(in), error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->scale, 1.0f);
    EXPECT_EQ(out->tensor, in.tensor);

    // A given scale is used, and what lies beyond 127 steps is clamped.
    in.tensor = {-1000.0f, 0.3f, 1000.0f, 1.0f, -0.05f};
    in.scale = 0.1f;
    out = decode_offload_request(encode_offload_request(in), error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->scale, 0.1f);
    EXPECT_FLOAT_EQ(out->tensor[0], -12.7f);
    EXPECT_FLOAT_EQ(out->tensor[1], 0.3f);
    EXPECT_FLOAT_EQ(out->tensor[2], 12.7f);
    EXPECT_FLOAT_EQ(out->tensor[3], 1.0f);
    EXPECT_FLOAT_EQ(out->tensor[4], -0.1f); // -0.5 rounds away from zero
}

TEST(OffloadCodec, TensorWireBytes) {
    EXPECT_EQ(tensor_wire_bytes(1000, "f16"), 2000u);
    EXPECT_EQ(tensor_wire_bytes(1000, "i8"), 1000u);
    EXPECT_EQ(tensor_wire_bytes(1000, "f32"), 0u);
    EXPECT_EQ(tensor_wire_bytes(0, "f16"), 0u);
}

TEST(OffloadCodec, BadTensorsAreNotEncoded) {
    auto bad = [](auto change) {
        auto r = tensor_sample("f16");
        change(r);
        EXPECT_THROW(encode_offload_request(r), std::invalid_argument);
    };
    bad([](OffloadRequest &r) { r.wire = "f32"; });
    bad([](OffloadRequest &r) { r.cut_layer = -1; });
    bad([](OffloadRequest &r) { r.shape = {}; });
    bad([](OffloadRequest &r) { r.shape = {1, 1, 1, 2, 12}; });
    bad([](OffloadRequest &r) { r.shape = {24, 0}; });
    bad([](OffloadRequest &r) { r.shape = {65537}; });
    bad([](OffloadRequest &r) { r.shape = {4096, 4096, 2}; });
    bad([](OffloadRequest &r) { r.tensor.pop_back(); });
    bad([](OffloadRequest &r) {
        r.wire = "i8";
        r.tensor[3] = std::numeric_limits<float>::infinity();
    });
    OffloadRequest probe;
    probe.payload = OffloadRequest::Payload::probe;
    probe.task_id = "p";
    probe.pad = kOffloadMaxProbePad + 1;
    EXPECT_THROW(encode_offload_request(probe), std::invalid_argument);
}

TEST(OffloadCodec, MalformedTensorsAreRefusedWithAReason) {
    const std::string t = R"({"task_id":"t","payload":"tensor","cut":2,)";
    struct Case {
        std::string header;
        std::size_t body;
        std::string reason;
    };
    const Case cases[] = {
        {t + R"("dtype":"f16","shape":[2,3]})", 12, ""}, // the good one
        {t + R"("dtype":"i8","shape":[2,3],"scale":0.5})", 6, ""},
        {t + R"("dtype":"f16","shape":[2,3]})", 11, "tensor data is 11 bytes, expected 12"},
        {t + R"("dtype":"i8","shape":[2,3],"scale":0.5})", 12, "expected 6"},
        {t + R"("dtype":"f32","shape":[2,3]})", 24, "dtype \"f32\""},
        {t + R"("dtype":"f16","shape":[]})", 0, "rank 0"},
        {t + R"("dtype":"f16","shape":[1,1,1,1,1]})", 2, "rank 5"},
        {t + R"("dtype":"f16","shape":[2,0]})", 0, "dimension 0"},
        {t + R"("dtype":"f16","shape":[2,-3]})", 0, "dimension -3"},
        {t + R"("dtype":"f16","shape":[65537]})", 131074, "dimension 65537"},
        {t + R"("dtype":"i8","shape":[65536,65536,65536,65536],"scale":1})", 0,
         "more than 16777216 elements"},
        {t + R"("dtype":"f16","shape":[2.5]})", 4, "not an integer"},
        {t + R"("dtype":"f16","shape":"2x3"})", 12, "not an array"},
        {t + R"("dtype":"f16"})", 12, "shape"},
        {t + R"("shape":[2,3]})", 12, "dtype"},
        {t + R"("dtype":"i8","shape":[2,3]})", 6, "scale"},
        {t + R"("dtype":"i8","shape":[2,3],"scale":0})", 6, "not a finite number > 0"},
        {t + R"("dtype":"i8","shape":[2,3],"scale":-1})", 6, "not a finite number > 0"},
        {t + R"("dtype":"i8","shape":[2,3],"scale":1e300})", 6, "not a finite number > 0"},
        {t + R"("dtype":"i8","shape":[2,3],"scale":"1"})", 6, "not a finite number > 0"},
        {R"({"task_id":"t","payload":"tensor","cut":-1,"dtype":"f16","shape":[2]})", 4, "cut -1"},
        {R"({"task_id":"t","payload":"tensor","cut":1.5,"dtype":"f16","shape":[2]})", 4, "cut 1.5"},
        {R"({"task_id":"t","payload":"tensor","dtype":"f16","shape":[2]})", 4, "cut"},
        {R"({"payload":"tensor","cut":1,"dtype":"f16","shape":[2]})", 4, "task_id"},
    };
    for (const auto &c : cases) {
        std::string error;
        const auto out = decode_offload_request(with_header(c.header, c.body), error);
        if (c.reason.empty()) {
            EXPECT_TRUE(out) << c.header << ": " << error;
            continue;
        }
        EXPECT_FALSE(out) << c.header;
        EXPECT_NE(error.find(c.reason), std::string::npos) << c.header << ": " << error;
    }
}

TEST(OffloadCodec, ProbesRoundTripAndTheirPadIsChecked) {
    OffloadRequest in;
    in.payload = OffloadRequest::Payload::probe;
    in.task_id = "probe-1";
    in.device_id = "dev-1";
    in.pad = 1000;
    const std::string wire = encode_offload_request(in);
    const auto header = header_of(wire);
    EXPECT_EQ(header.at("payload"), "probe");
    EXPECT_EQ(header.at("pad"), 1000);
    EXPECT_EQ(body_of(wire), std::string(1000, '\0'));
    std::string error;
    auto out = decode_offload_request(wire, error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->payload, OffloadRequest::Payload::probe);
    EXPECT_EQ(out->task_id, "probe-1");
    EXPECT_EQ(out->device_id, "dev-1");
    EXPECT_EQ(out->pad, 1000u);

    in.pad = 0;
    out = decode_offload_request(encode_offload_request(in), error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->pad, 0u);
    in.pad = kOffloadMaxProbePad;
    out = decode_offload_request(encode_offload_request(in), error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->pad, kOffloadMaxProbePad);

    const std::string p = R"({"task_id":"t","payload":"probe",)";
    EXPECT_FALSE(decode_offload_request(with_header(p + R"("pad":10})", 9), error));
    EXPECT_NE(error.find("probe body is 9 bytes, expected pad 10"), std::string::npos) << error;
    EXPECT_FALSE(decode_offload_request(with_header(p + R"("pad":1048577})", 1048577), error));
    EXPECT_NE(error.find("probe pad 1048577"), std::string::npos) << error;
    EXPECT_FALSE(decode_offload_request(with_header(p + R"("pad":-1})", 0), error));
    EXPECT_NE(error.find("probe pad -1"), std::string::npos) << error;
    EXPECT_FALSE(
        decode_offload_request(with_header(R"({"task_id":"t","payload":"probe"})", 0), error));
    EXPECT_NE(error.find("pad"), std::string::npos) << error;
}

TEST(OffloadCodec, PayloadKindDefaultsToImage) {
    std::string error;
    auto out = decode_offload_request(
        with_header(R"({"task_id":"t","format":"gray8","width":2,"height":2})", 4), error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->payload, OffloadRequest::Payload::image);
    EXPECT_EQ(out->cut_layer, -1);
    EXPECT_TRUE(out->tensor.empty());
    out = decode_offload_request(
        with_header(R"({"task_id":"t","payload":"image","format":"gray8","width":2,"height":2})",
                    4),
        error);
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(out->image.total(), 4u);
    EXPECT_FALSE(header_of(encode_offload_request(sample(3))).contains("payload"));
    EXPECT_FALSE(
        decode_offload_request(with_header(R"({"task_id":"t","payload":"video"})", 0), error));
    EXPECT_NE(error.find("payload \"video\" is not image, tensor, probe or regions"), std::string::npos)
        << error;
}

// Issue 14/15: the wire's budget is "budget_ms" (how long the end waits, from its
// publish); "deadline_ms", its older name, is still sent for older serving agents and
// still read from older ends.
TEST(OffloadCodec, BudgetTravelsAsBudgetMsAndItsOlderName) {
    auto in = sample(1);
    in.budget_ms = 300;
    auto header = header_of(encode_offload_request(in));
    EXPECT_EQ(header.at("budget_ms"), 300.0);
    EXPECT_EQ(header.at("deadline_ms"), 300.0);
    in = tensor_sample("i8");
    header = header_of(encode_offload_request(in));
    EXPECT_EQ(header.at("budget_ms"), 120.0);
    EXPECT_EQ(header.at("deadline_ms"), 120.0);

    const std::string image = R"({"task_id":"t","format":"gray8","width":2,"height":2,)";
    auto decoded = [&](const std::string &fields, std::string &error) {
        return decode_offload_request(with_header(image + fields + "}", 4), error);
    };
    std::string error;
    auto out = decoded(R"("budget_ms":75)", error);
    ASSERT_TRUE(out) << error;
    EXPECT_DOUBLE_EQ(out->budget_ms, 75);
    out = decoded(R"("deadline_ms":60)", error); // an end that predates budget_ms
    ASSERT_TRUE(out) << error;
    EXPECT_DOUBLE_EQ(out->budget_ms, 60);
    out = decoded(R"("budget_ms":75,"deadline_ms":60)", error);
    ASSERT_TRUE(out) << error;
    EXPECT_DOUBLE_EQ(out->budget_ms, 75);
    out = decoded(R"("budget_ms":-5)", error);
    ASSERT_TRUE(out) << error;
    EXPECT_DOUBLE_EQ(out->budget_ms, 0); // <= 0: no bound, as before
    EXPECT_FALSE(decoded(R"("budget_ms":"soon")", error));
    EXPECT_NE(error.find("budget_ms \"soon\" is not a finite number"), std::string::npos) << error;
    EXPECT_FALSE(decoded(R"("budget_ms":1e999)", error)); // not JSON: out of double's range
}

// The two halves of decoding give what decode_offload_request gives; the first reads the
// header and the sizes only.
TEST(OffloadCodec, HeaderThenBodyDecodesAsTheWhole) {
    std::vector<std::string> wires = {
        encode_offload_request(sample(1)), encode_offload_request(sample(3)),
        encode_offload_request(tensor_sample("f16")), encode_offload_request(tensor_sample("i8"))};
    for (const auto &wire : wires) {
        std::string error;
        auto header = decode_offload_header(wire, error);
        ASSERT_TRUE(header) << error;
        const OffloadRequest &h = header->request;
        EXPECT_TRUE(h.image.empty());
        EXPECT_TRUE(h.tensor.empty());
        auto whole = decode_offload_request(wire, error);
        ASSERT_TRUE(whole) << error;
        EXPECT_EQ(header->body_offset, wire.size() - body_of(wire).size());
        if (whole->payload == OffloadRequest::Payload::image) {
            EXPECT_EQ(header->image_width, 5);
            EXPECT_EQ(header->image_height, 3);
            EXPECT_EQ(header->image_pixels(), 15);
            EXPECT_EQ(header->decoded_bytes, whole->image.total() * whole->image.elemSize());
        } else {
            EXPECT_EQ(header->decoded_bytes, 24 * sizeof(float));
            EXPECT_EQ(h.shape, whole->shape);
            EXPECT_EQ(h.wire, whole->wire);
        }
        decode_offload_body(*header, wire);
        EXPECT_EQ(h.task_id, whole->task_id);
        EXPECT_DOUBLE_EQ(h.budget_ms, whole->budget_ms);
        EXPECT_EQ(h.tensor, whole->tensor);
        if (!whole->image.empty()) {
            EXPECT_EQ(cv::norm(h.image, whole->image, cv::NORM_INF), 0.0);
        }
    }
    // A short body is refused by the header half already.
    std::string error;
    const std::string wire = encode_offload_request(sample(3));
    EXPECT_FALSE(decode_offload_header(wire.substr(0, wire.size() - 1), error));
    EXPECT_NE(error.find("pixel data is 44 bytes, expected 45"), std::string::npos) << error;
}

TEST(OffloadCodec, ReplySchedulerFieldsAreOptional) {
    OffloadReply plain;
    plain.task_id = "t1";
    plain.ok = true;
    plain.top_class = 1;
    const std::string old = encode_offload_reply(plain);
    for (const char *key : {"queue_ms", "queue_depth", "probe", "cut"})
        EXPECT_EQ(old.find(key), std::string::npos) << key << " in " << old;
    std::string error;
    auto back = decode_offload_reply(old, error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->queue_ms, -1);
    EXPECT_EQ(back->queue_depth, -1);
    EXPECT_FALSE(back->probe);
    EXPECT_EQ(back->cut_layer, -1);

    OffloadReply full = plain;
    full.queue_ms = 3.25;
    full.queue_depth = 0;
    full.cut_layer = 4;
    back = decode_offload_reply(encode_offload_reply(full), error);
    ASSERT_TRUE(back) << error;
    EXPECT_DOUBLE_EQ(back->queue_ms, 3.25);
    EXPECT_EQ(back->queue_depth, 0);
    EXPECT_EQ(back->cut_layer, 4);
    EXPECT_FALSE(back->probe);

    // An error reply carries the queue too (a "busy" answer says how busy).
    OffloadReply busy;
    busy.task_id = "t2";
    busy.error_code = "busy";
    busy.queue_depth = 64;
    busy.queue_ms = 0;
    back = decode_offload_reply(encode_offload_reply(busy), error);
    ASSERT_TRUE(back) << error;
    EXPECT_FALSE(back->ok);
    EXPECT_EQ(back->queue_depth, 64);
    EXPECT_EQ(back->queue_ms, 0);

    // A probe reply: a normal ok reply (so older ends decode it), flagged probe; one
    // without result fields is accepted too.
    OffloadReply probe;
    probe.task_id = "probe-1";
    probe.device_id = "edge-1";
    probe.ok = true;
    probe.probe = true;
    probe.queue_depth = 2;
    const std::string wire = encode_offload_reply(probe);
    EXPECT_NE(wire.find("\"probe\":true"), std::string::npos) << wire;
    EXPECT_NE(wire.find("top_class"), std::string::npos) << wire;
    back = decode_offload_reply(wire, error);
    ASSERT_TRUE(back) << error;
    EXPECT_TRUE(back->ok);
    EXPECT_TRUE(back->probe);
    EXPECT_EQ(back->queue_depth, 2);
    back = decode_offload_reply(R"({"task_id":"p","ok":true,"probe":true})", error);
    ASSERT_TRUE(back) << error;
    EXPECT_TRUE(back->probe);
    EXPECT_EQ(back->top_class, -1);
    EXPECT_FALSE(decode_offload_reply(R"({"task_id":"p","ok":true})", error));

    EXPECT_FALSE(
        decode_offload_reply(R"({"task_id":"t","ok":false,"error":{},"queue_ms":"x"})", error));
    EXPECT_NE(error.find("reply"), std::string::npos) << error;
}

} // namespace
} // namespace tierd
