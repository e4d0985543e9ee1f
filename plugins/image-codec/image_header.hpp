// The size of an encoded image, read from its header alone: PNG, JPEG, BMP, PNM
// (PBM/PGM/PPM) and WebP, the formats the input topic takes (docs/mqtt.md). A source
// checks width x height against its pixel bound with this BEFORE any decoder sees the
// bytes: a 1 KB file may claim 30000 x 30000 pixels, and the decoder would allocate for
// them. Written here because OpenCV 4.6 offers no header-only probe (its own check,
// OPENCV_IO_MAX_IMAGE_PIXELS, is process-wide, read once, and defaults to 2^30 pixels).
// Pure functions; any thread; never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace tierd::image_codec {

enum class ImageFormat { png, jpeg, bmp, pnm, webp };

struct ImageHeader {
    ImageFormat format;
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::uint64_t pixels() const { return std::uint64_t{width} * height; }
};

// The format by its magic bytes; nullopt for anything else (those bytes never reach a
// decoder: OpenCV's other decoders — GDAL, TIFF, JPEG 2000, EXR — are large attack
// surface for untrusted bytes).
std::optional<ImageFormat> sniff_format(const std::uint8_t *data, std::size_t size);

// Width and height as the header states them. nullopt (and `why`) when the format is not
// one of the five, or the header is truncated or malformed, or states a zero size.
std::optional<ImageHeader> read_image_header(const std::uint8_t *data, std::size_t size,
                                             std::string &why);

const char *format_name(ImageFormat format);

} // namespace tierd::image_codec
