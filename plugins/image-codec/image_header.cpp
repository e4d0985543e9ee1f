#include "image_header.hpp"

#include <cstring>

namespace tierd::image_codec {
namespace {

std::uint32_t be16(const std::uint8_t *p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
std::uint32_t be32(const std::uint8_t *p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           p[3];
}
std::uint32_t le16(const std::uint8_t *p) { return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8); }
std::uint32_t le24(const std::uint8_t *p) { return le16(p) | (std::uint32_t{p[2]} << 16); }
std::uint32_t le32(const std::uint8_t *p) { return le24(p) | (std::uint32_t{p[3]} << 24); }

bool starts_with(const std::uint8_t *data, std::size_t size, const char *magic, std::size_t n) {
    return size >= n && std::memcmp(data, magic, n) == 0;
}

using Header = std::optional<ImageHeader>;

Header fail(std::string &why, const char *reason) {
    why = reason;
    return std::nullopt;
}

// IHDR is the first chunk: length, "IHDR", width, height (big-endian).
Header png(const std::uint8_t *d, std::size_t n, std::string &why) {
    if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0)
        return fail(why, "PNG without an IHDR chunk");
    return ImageHeader{ImageFormat::png, be32(d + 16), be32(d + 20)};
}

// Markers from SOI on, each with a big-endian length, until a start-of-frame (SOF0-15,
// except DHT C4, JPG C8 and DAC CC), which holds precision, height, width.
Header jpeg(const std::uint8_t *d, std::size_t n, std::string &why) {
    std::size_t i = 2;
    while (i + 4 <= n) {
        if (d[i] != 0xFF)
            return fail(why, "JPEG with a malformed marker");
        const std::uint8_t marker = d[i + 1];
        if (marker == 0xFF) { // fill byte
            ++i;
            continue;
        }
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
            i += 2; // markers without a length
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA)
            return fail(why, "JPEG without a frame header before its scan");
        const std::uint32_t length = be16(d + i + 2);
        if (length < 2)
            return fail(why, "JPEG with a malformed segment length");
        const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                         marker != 0xCC;
        if (sof) {
            if (length < 7 || i + 2 + 7 > n)
                return fail(why, "JPEG with a truncated frame header");
            const std::uint32_t height = be16(d + i + 5);
            const std::uint32_t width = be16(d + i + 7);
            if (height == 0) // the height would come later, in a DNL segment
                return fail(why, "JPEG whose frame header gives no height");
            return ImageHeader{ImageFormat::jpeg, width, height};
        }
        i += 2 + length;
    }
    return fail(why, "JPEG truncated before its frame header");
}

// File header (14 bytes), then the DIB header: 12-byte OS/2 core (16-bit sizes) or a
// BITMAPINFOHEADER and its successors (signed 32-bit; a negative height is top-down).
Header bmp(const std::uint8_t *d, std::size_t n, std::string &why) {
    if (n < 26)
        return fail(why, "BMP truncated in its header");
    const std::uint32_t dib = le32(d + 14);
    if (dib == 12)
        return ImageHeader{ImageFormat::bmp, le16(d + 18), le16(d + 20)};
    if (dib < 40 || n < 26)
        return fail(why, "BMP with an unknown header");
    const auto width = static_cast<std::int32_t>(le32(d + 18));
    const auto height = static_cast<std::int32_t>(le32(d + 22));
    if (width <= 0 || height == 0 || height == INT32_MIN)
        return fail(why, "BMP with an invalid size");
    return ImageHeader{ImageFormat::bmp, static_cast<std::uint32_t>(width),
                       static_cast<std::uint32_t>(height < 0 ? -height : height)};
}

// "P1".."P6", then width and height as decimal text, separated by whitespace and
// '#' comments running to the end of the line.
Header pnm(const std::uint8_t *d, std::size_t n, std::string &why) {
    std::size_t i = 2;
    std::uint32_t values[2] = {0, 0};
    for (std::uint32_t &value : values) {
        while (i < n) {
            if (d[i] == '#') {
                while (i < n && d[i] != '\n' && d[i] != '\r')
                    ++i;
            } else if (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r' ||
                       d[i] == '\v' || d[i] == '\f') {
                ++i;
            } else {
                break;
            }
        }
        std::uint64_t v = 0;
        std::size_t digits = 0;
        for (; i < n && d[i] >= '0' && d[i] <= '9'; ++i, ++digits) {
            v = v * 10 + static_cast<std::uint64_t>(d[i] - '0');
            if (v > 0xFFFFFFFFu)
                return fail(why, "PNM with a size beyond 32 bits");
        }
        if (digits == 0)
            return fail(why, "PNM without a width and height");
        value = static_cast<std::uint32_t>(v);
    }
    return ImageHeader{ImageFormat::pnm, values[0], values[1]};
}

// RIFF container; the first chunk says which kind: "VP8 " (lossy: 14-bit sizes after the
// frame tag and start code), "VP8L" (lossless: 14-bit sizes minus one, bit-packed after the
// 0x2F signature) or "VP8X" (extended: 24-bit canvas sizes minus one).
Header webp(const std::uint8_t *d, std::size_t n, std::string &why) {
    if (n < 30)
        return fail(why, "WebP truncated in its header");
    const std::uint8_t *chunk = d + 12;
    if (std::memcmp(chunk, "VP8 ", 4) == 0) {
        if (d[23] != 0x9D || d[24] != 0x01 || d[25] != 0x2A)
            return fail(why, "WebP (VP8) without its start code");
        return ImageHeader{ImageFormat::webp, le16(d + 26) & 0x3FFF, le16(d + 28) & 0x3FFF};
    }
    if (std::memcmp(chunk, "VP8L", 4) == 0) {
        if (d[20] != 0x2F)
            return fail(why, "WebP (VP8L) without its signature");
        const std::uint32_t bits = le32(d + 21);
        return ImageHeader{ImageFormat::webp, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
    }
    if (std::memcmp(chunk, "VP8X", 4) == 0)
        return ImageHeader{ImageFormat::webp, le24(d + 24) + 1, le24(d + 27) + 1};
    return fail(why, "WebP with an unknown first chunk");
}

} // namespace

std::optional<ImageFormat> sniff_format(const std::uint8_t *data, std::size_t size) {
    if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8))
        return ImageFormat::png;
    if (starts_with(data, size, "\xff\xd8\xff", 3))
        return ImageFormat::jpeg;
    if (starts_with(data, size, "BM", 2))
        return ImageFormat::bmp;
    if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6')
        return ImageFormat::pnm;
    if (size >= 12 && starts_with(data, size, "RIFF", 4) && std::memcmp(data + 8, "WEBP", 4) == 0)
        return ImageFormat::webp;
    return std::nullopt;
}

std::optional<ImageHeader> read_image_header(const std::uint8_t *data, std::size_t size,
                                             std::string &why) {
    const auto format = sniff_format(data, size);
    if (!format)
        return fail(why, "not a PNG, JPEG, BMP, PNM or WebP image");
    Header header;
    switch (*format) {
    case ImageFormat::png: header = png(data, size, why); break;
    case ImageFormat::jpeg: header = jpeg(data, size, why); break;
    case ImageFormat::bmp: header = bmp(data, size, why); break;
    case ImageFormat::pnm: header = pnm(data, size, why); break;
    case ImageFormat::webp: header = webp(data, size, why); break;
    }
    if (header && (header->width == 0 || header->height == 0))
        return fail(why, "the header states an empty image");
    return header;
}

const char *format_name(ImageFormat format) {
    switch (format) {
    case ImageFormat::png: return "PNG";
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::pnm: return "PNM";
    case ImageFormat::webp: return "WebP";
    }
    return "?";
}

} // namespace tierd::image_codec
