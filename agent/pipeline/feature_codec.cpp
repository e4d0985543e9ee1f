#include "agent/pipeline/feature_codec.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace tierd {
namespace {

void put_floats(std::string &raw, const std::vector<float> &v) {
    // The wire is little-endian; so is every machine tierd builds for (x86-64, arm64).
    static_assert(sizeof(float) == 4);
    raw.append(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(float));
}

bool shape_ok(int channels, int height, int width) {
    return channels >= 1 && channels <= kFeatureMaxChannels && height >= 1 &&
           height <= kFeatureMaxSide && width >= 1 && width <= kFeatureMaxSide &&
           static_cast<std::size_t>(channels) * height * width <= kFeatureMaxValues;
}

} // namespace

const char *to_string(FeatureCompression c) {
    switch (c) {
    case FeatureCompression::none: return "none";
    case FeatureCompression::whole: return "whole";
    case FeatureCompression::regions: return "regions";
    }
    return "?";
}

std::optional<FeatureCompression> parse_feature_compression(std::string_view text) {
    if (text == "none")
        return FeatureCompression::none;
    if (text == "whole")
        return FeatureCompression::whole;
    if (text == "regions")
        return FeatureCompression::regions;
    return std::nullopt;
}

std::vector<std::uint8_t> feature_region_cells(const tierd_detection *boxes, std::size_t count,
                                               int image_width, int image_height, int height,
                                               int width, float min_score) {
    std::vector<std::uint8_t> cells(static_cast<std::size_t>(height) * width, 0);
    if (image_width <= 0 || image_height <= 0 || boxes == nullptr)
        return cells;
    const double sx = static_cast<double>(width) / image_width;
    const double sy = static_cast<double>(height) / image_height;
    for (std::size_t i = 0; i < count; ++i) {
        const tierd_detection &b = boxes[i];
        if (!(b.score >= min_score))
            continue;
        const int x1 = std::max(0, static_cast<int>(std::floor(b.x * sx)) - 1);
        const int y1 = std::max(0, static_cast<int>(std::floor(b.y * sy)) - 1);
        const int x2 = std::min(width, static_cast<int>(std::ceil((b.x + b.width) * sx)) + 1);
        const int y2 = std::min(height, static_cast<int>(std::ceil((b.y + b.height) * sy)) + 1);
        for (int y = y1; y < y2; ++y)
            for (int x = x1; x < x2; ++x)
                cells[static_cast<std::size_t>(y) * width + x] = 1;
    }
    return cells;
}

std::string encode_feature_map(const float *values, int channels, int height, int width,
                               FeatureCompression compression,
                               const std::vector<std::uint8_t> &cells) {
    if (!shape_ok(channels, height, width) || values == nullptr)
        throw std::invalid_argument("encode_feature_map: shape out of bounds");
    if (compression == FeatureCompression::none)
        throw std::invalid_argument("encode_feature_map: compression none sends nothing");
    const std::size_t plane = static_cast<std::size_t>(height) * width;
    const bool regions = compression == FeatureCompression::regions;
    if (regions && cells.size() != plane)
        throw std::invalid_argument("encode_feature_map: the cell mask is not height x width");
    std::vector<float> lo(channels), scale(channels);
    for (int c = 0; c < channels; ++c) {
        const float *p = values + c * plane;
        float a = std::numeric_limits<float>::infinity(), b = -a;
        for (std::size_t i = 0; i < plane; ++i) {
            if (!std::isfinite(p[i]))
                throw std::invalid_argument("encode_feature_map: a value is not finite");
            a = std::min(a, p[i]);
            b = std::max(b, p[i]);
        }
        lo[c] = a;
        scale[c] = b > a ? (b - a) / 255.0f : 1.0f;
    }
    std::string raw;
    raw.reserve(8 * channels + plane / 8 + 1 + channels * plane);
    put_floats(raw, lo);
    put_floats(raw, scale);
    if (regions) {
        std::string bits((plane + 7) / 8, '\0');
        for (std::size_t i = 0; i < plane; ++i)
            if (cells[i])
                bits[i / 8] = static_cast<char>(bits[i / 8] | (0x80 >> (i % 8)));
        raw += bits;
    }
    for (int c = 0; c < channels; ++c) {
        const float *p = values + c * plane;
        for (std::size_t i = 0; i < plane; ++i) {
            if (regions && !cells[i])
                continue;
            const float q = std::round((p[i] - lo[c]) / scale[c]);
            raw.push_back(
                static_cast<char>(static_cast<std::uint8_t>(std::clamp(q, 0.0f, 255.0f))));
        }
    }
    uLongf size = compressBound(static_cast<uLong>(raw.size()));
    std::string out(size, '\0');
    if (compress2(reinterpret_cast<Bytef *>(out.data()), &size,
                  reinterpret_cast<const Bytef *>(raw.data()), static_cast<uLong>(raw.size()),
                  6) != Z_OK)
        throw std::runtime_error("encode_feature_map: zlib failed");
    out.resize(size);
    return out;
}

bool decode_feature_map(std::string_view bytes, int channels, int height, int width,
                        FeatureCompression compression, std::vector<float> &out,
                        std::string &error) {
    if (!shape_ok(channels, height, width)) {
        error = "feature shape out of bounds";
        return false;
    }
    if (compression == FeatureCompression::none) {
        error = "feature compression none carries no map";
        return false;
    }
    const std::size_t plane = static_cast<std::size_t>(height) * width;
    const bool regions = compression == FeatureCompression::regions;
    const std::size_t head =
        8 * static_cast<std::size_t>(channels) + (regions ? (plane + 7) / 8 : 0);
    const std::size_t most = head + static_cast<std::size_t>(channels) * plane;
    std::string raw(most + 1, '\0'); // one more: a stream that inflates past `most` is wrong
    uLongf size = static_cast<uLongf>(raw.size());
    const int rc =
        uncompress(reinterpret_cast<Bytef *>(raw.data()), &size,
                   reinterpret_cast<const Bytef *>(bytes.data()), static_cast<uLong>(bytes.size()));
    if (rc != Z_OK) {
        error =
            rc == Z_BUF_ERROR ? "feature data inflates past its shape" : "feature data is not zlib";
        return false;
    }
    if (size < head) {
        error = "feature data shorter than its scales";
        return false;
    }
    std::vector<float> lo(channels), scale(channels);
    std::memcpy(lo.data(), raw.data(), 4 * channels);
    std::memcpy(scale.data(), raw.data() + 4 * channels, 4 * channels);
    for (int c = 0; c < channels; ++c)
        if (!std::isfinite(lo[c]) || !std::isfinite(scale[c])) {
            error = "feature scales are not finite";
            return false;
        }
    std::size_t sent = plane;
    const auto *bits = reinterpret_cast<const std::uint8_t *>(raw.data() + 8 * channels);
    auto is_sent = [&](std::size_t i) { return !regions || (bits[i / 8] & (0x80 >> (i % 8))); };
    if (regions) {
        sent = 0;
        for (std::size_t i = 0; i < plane; ++i)
            sent += is_sent(i) ? 1 : 0;
    }
    if (size != head + static_cast<std::size_t>(channels) * sent) {
        error = "feature data of " + std::to_string(size) + " bytes does not match its shape";
        return false;
    }
    out.assign(static_cast<std::size_t>(channels) * plane, std::numeric_limits<float>::quiet_NaN());
    const auto *codes = reinterpret_cast<const std::uint8_t *>(raw.data() + head);
    for (int c = 0; c < channels; ++c) {
        float *o = out.data() + c * plane;
        for (std::size_t i = 0; i < plane; ++i)
            if (is_sent(i))
                o[i] = lo[c] + static_cast<float>(*codes++) * scale[c];
    }
    return true;
}

} // namespace tierd
