// A detector's feature map on the wire (docs/feature-fusion.md, docs/mqtt.md "Offload"):
// the upstream tier sends its map of a key frame to the end, which warps it to later frames
// and fuses it with its own (the fusion-feature plugin).
//
// Compressions ("features" in the request and the reply):
//   whole    every cell: per channel an affine 8-bit code, x ~ lo[c] + code * scale[c]
//   regions  the same codes, only for the cells inside the sender's own boxes (score >=
//            kFeatureRegionScore, one cell of margin), and a bit per cell saying which
// Encoded bytes: zlib(deflate) of  lo (C float32 LE) | scale (C float32 LE) |
//   [regions: ceil(H*W / 8) bytes of cell bits, row-major, most significant bit first] |
//   codes (whole: C*H*W bytes, row-major [C][H][W]; regions: C x the set cells, per
//   channel in cell order).
// Decoded: float32 [C][H][W], the cells not sent set to NaN (what the ABI's tensor says
// for "not sent", see tierd_upstream_result). Pure functions; any thread.
#pragma once

#include <tierd/plugin.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tierd {

enum class FeatureCompression { none, whole, regions };

// "none", "whole", "regions"; parse returns nullopt for any other text.
const char *to_string(FeatureCompression c);
std::optional<FeatureCompression> parse_feature_compression(std::string_view text);

// Boxes scoring at least this mark the cells a "regions" map sends.
inline constexpr float kFeatureRegionScore = 0.1f;
// Bounds a decoder enforces: channels, cells a side, values in all.
inline constexpr int kFeatureMaxChannels = 4096;
inline constexpr int kFeatureMaxSide = 4096;
inline constexpr std::size_t kFeatureMaxValues = 16u * 1024 * 1024;

// A map's cells inside `boxes` (pixels of an image_width x image_height image that the
// map's height x width grid covers), scoring >= min_score, with one cell of margin:
// height * width bytes, 1 = inside.
std::vector<std::uint8_t> feature_region_cells(const tierd_detection *boxes, std::size_t count,
                                               int image_width, int image_height, int height,
                                               int width, float min_score = kFeatureRegionScore);

// Encodes the map `values` ([channels][height][width], finite) with `compression` (whole
// or regions; `cells` = feature_region_cells for regions, ignored for whole). Throws
// std::invalid_argument for a bad shape, a size mismatch, a value that is not finite or
// compression none.
std::string encode_feature_map(const float *values, int channels, int height, int width,
                               FeatureCompression compression,
                               const std::vector<std::uint8_t> &cells = {});

// Decodes `bytes` of a map of that shape and compression into `out` (channels * height *
// width floats; NaN where not sent). Returns false and sets `error` for a shape out of
// bounds, data that does not inflate, or a size that does not match the shape.
bool decode_feature_map(std::string_view bytes, int channels, int height, int width,
                        FeatureCompression compression, std::vector<float> &out,
                        std::string &error);

} // namespace tierd
