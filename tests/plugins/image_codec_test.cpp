// plugins/image-codec: an image's size from its header alone, and decoding that refuses
// what states more pixels than the bound before any decoder runs (issue 14, bounded
// decoding). Images are encoded by OpenCV here, so the headers are real ones.
#include "bounded_decode.hpp"
#include "image_header.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tierd::image_codec {
namespace {

std::vector<std::uint8_t> encode(const std::string &ext, int width, int height, int channels) {
    cv::Mat img(height, width, CV_8UC(channels), cv::Scalar::all(90));
    std::vector<std::uint8_t> bytes;
    EXPECT_TRUE(cv::imencode(ext, img, bytes)) << ext;
    return bytes;
}

TEST(ImageHeader, ReadsTheSizeOfEveryFormatTheInputTopicTakes) {
    struct Case {
        const char *ext;
        ImageFormat format;
        int channels;
    } cases[] = {{".png", ImageFormat::png, 1},  {".png", ImageFormat::png, 3},
                 {".jpg", ImageFormat::jpeg, 1}, {".jpg", ImageFormat::jpeg, 3},
                 {".bmp", ImageFormat::bmp, 3},  {".pgm", ImageFormat::pnm, 1},
                 {".ppm", ImageFormat::pnm, 3},  {".webp", ImageFormat::webp, 3}};
    for (const auto &c : cases)
        for (auto [w, h] : {std::pair{28, 28}, {640, 360}, {1, 7}, {333, 1}}) {
            const auto bytes = encode(c.ext, w, h, c.channels);
            std::string why;
            const auto header = read_image_header(bytes.data(), bytes.size(), why);
            ASSERT_TRUE(header) << c.ext << " " << w << "x" << h << ": " << why;
            EXPECT_EQ(header->format, c.format) << c.ext;
            EXPECT_EQ(header->width, static_cast<std::uint32_t>(w)) << c.ext;
            EXPECT_EQ(header->height, static_cast<std::uint32_t>(h)) << c.ext;
        }
}

TEST(ImageHeader, RefusesWhatIsNotOneOfTheFiveOrIsCutShort) {
    std::string why;
    const std::string tiff = "II*\0\x08\0\0\0", text = "hello";
    for (const auto &s : {tiff, text}) {
        EXPECT_FALSE(read_image_header(reinterpret_cast<const std::uint8_t *>(s.data()), s.size(),
                                       why));
        EXPECT_FALSE(why.empty());
    }
    for (const char *ext : {".png", ".jpg", ".bmp", ".webp"}) {
        const auto bytes = encode(ext, 64, 48, 3);
        for (std::size_t n : {std::size_t{2}, std::size_t{9}, std::size_t{20}}) {
            const auto header = read_image_header(bytes.data(), n, why);
            EXPECT_FALSE(header) << ext << " cut to " << n << " bytes";
        }
    }
}

// A PNG whose IHDR says 30000 x 30000 (its data need not be there: nothing reads it).
std::vector<std::uint8_t> png_claiming(std::uint32_t width, std::uint32_t height) {
    auto bytes = encode(".png", 4, 4, 1);
    auto put = [&](std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 4; ++i)
            bytes[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
    };
    put(16, width);
    put(20, height);
    return bytes;
}

TEST(BoundedDecode, RefusesAnImageWhoseHeaderStatesMorePixelsThanTheBound) {
    const auto bomb = png_claiming(30000, 30000);
    const Decoded d = decode_bounded(bomb.data(), bomb.size(), 16u << 20);
    EXPECT_EQ(d.status, DecodeStatus::too_large);
    EXPECT_NE(d.why.find("30000x30000 = 900000000 pixels"), std::string::npos) << d.why;
    EXPECT_TRUE(d.image.empty());
}

TEST(BoundedDecode, DecodesWithinTheBoundTo8BitGrayOrBgr) {
    for (int channels : {1, 3}) {
        const auto bytes = encode(".png", 640, 360, channels);
        const Decoded d = decode_bounded(bytes.data(), bytes.size(), 640 * 360);
        ASSERT_EQ(d.status, DecodeStatus::ok) << d.why;
        EXPECT_EQ(d.image.cols, 640);
        EXPECT_EQ(d.image.rows, 360);
        EXPECT_EQ(d.image.type(), channels == 1 ? CV_8UC1 : CV_8UC3);
        // One pixel over the bound: refused.
        EXPECT_EQ(decode_bounded(bytes.data(), bytes.size(), 640 * 360 - 1).status,
                  DecodeStatus::too_large);
    }
    cv::Mat rgba(5, 7, CV_8UC4, cv::Scalar(1, 2, 3, 4)), gray16(5, 7, CV_16UC1, cv::Scalar(65535));
    for (const cv::Mat &m : {rgba, gray16}) {
        std::vector<std::uint8_t> bytes;
        ASSERT_TRUE(cv::imencode(".png", m, bytes));
        const Decoded d = decode_bounded(bytes.data(), bytes.size(), 0);
        ASSERT_EQ(d.status, DecodeStatus::ok) << d.why;
        EXPECT_TRUE(d.image.type() == CV_8UC1 || d.image.type() == CV_8UC3);
    }
}

TEST(BoundedDecode, ABrokenImageIsUndecodableWithAReason) {
    auto bytes = encode(".png", 32, 32, 3);
    bytes.resize(bytes.size() / 2); // the header is whole, the data cut
    const Decoded d = decode_bounded(bytes.data(), bytes.size(), 1u << 20);
    EXPECT_EQ(d.status, DecodeStatus::undecodable);
    EXPECT_FALSE(d.why.empty());
}

} // namespace
} // namespace tierd::image_codec
