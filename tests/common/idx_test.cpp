// tierd/idx.hpp on real files: IDX written here, raw and gzipped (zlib), cut short,
// with a wrong magic or shape; and Debian's Fashion-MNIST when it is installed.
#include <tierd/idx.hpp>

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using tierd::idx::Problem;

class Idx : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("idx_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // An IDX file's bytes: header with these dimensions, then `data`.
    static std::string idx_bytes(std::initializer_list<uint32_t> dims, const std::string &data,
                                 unsigned char type = 0x08) {
        std::string out = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
        for (uint32_t d : dims)
            for (int shift = 24; shift >= 0; shift -= 8)
                out += static_cast<char>((d >> shift) & 0xff);
        return out + data;
    }

    std::string write_raw(const std::string &name, const std::string &bytes) {
        const std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }

    std::string write_gz(const std::string &name, const std::string &bytes) {
        const std::string path = (dir_ / name).string();
        gzFile f = gzopen(path.c_str(), "wb");
        EXPECT_NE(f, nullptr);
        EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                  static_cast<int>(bytes.size()));
        gzclose(f);
        return path;
    }

    static std::string file_bytes(const std::string &path) {
        std::ifstream in(path, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    // Three 2x3 images whose pixels count up from 1.
    static std::string three_images() {
        std::string px;
        for (int i = 1; i <= 18; ++i)
            px += static_cast<char>(i);
        return idx_bytes({3, 2, 3}, px);
    }

    fs::path dir_;
};

// Runs `read` and returns the idx::Error it throws (a failed expectation if none).
template <typename Read> tierd::idx::Error error_of(Read read) {
    try {
        read();
    } catch (const tierd::idx::Error &e) {
        return e;
    }
    ADD_FAILURE() << "no tierd::idx::Error thrown";
    return tierd::idx::Error(Problem::read_error, "(none)");
}

TEST_F(Idx, ReadsGzippedImagesOneAtATime) {
    const auto path = write_gz("images.gz", three_images());
    tierd::idx::ImageReader images(path);
    EXPECT_EQ(images.count(), 3u);
    EXPECT_EQ(images.rows(), 2);
    EXPECT_EQ(images.cols(), 3);
    EXPECT_EQ(images.image_bytes(), 6u);
    std::vector<uint8_t> px(images.image_bytes());
    for (uint32_t i = 0; i < 3; ++i) {
        EXPECT_EQ(images.position(), i);
        ASSERT_TRUE(images.next(px.data()));
        EXPECT_EQ(px.front(), 1 + 6 * i);
        EXPECT_EQ(px.back(), 6 + 6 * i);
    }
    EXPECT_TRUE(images.at_end());
    EXPECT_FALSE(images.next(px.data()));
    images.expect_end(); // nothing follows the third image
}

TEST_F(Idx, ReadsRawFilesAsGzippedOnes) {
    const auto raw = write_raw("images.idx", three_images());
    const auto gz = write_gz("images.idx.gz", three_images());
    EXPECT_EQ(tierd::idx::ImageReader(raw).read(), tierd::idx::ImageReader(gz).read());
    EXPECT_EQ(tierd::idx::ImageReader(raw).read().size(), 18u);
}

TEST_F(Idx, BulkReadTakesAtMostWhatIsAskedAndWhatIsLeft) {
    tierd::idx::ImageReader images(write_raw("images.idx", three_images()));
    std::vector<uint8_t> first(images.image_bytes());
    ASSERT_TRUE(images.next(first.data()));
    auto two = images.read(1);
    ASSERT_EQ(two.size(), 6u);
    EXPECT_EQ(two.front(), 7);
    auto rest = images.read(100);
    ASSERT_EQ(rest.size(), 6u);
    EXPECT_EQ(rest.front(), 13);
    EXPECT_TRUE(images.read().empty());
    EXPECT_EQ(images.position(), 3u);
}

TEST_F(Idx, ReadsLabelsThatMatchTheImages) {
    const auto path = write_gz("labels.gz", idx_bytes({3}, std::string("\x07\x00\x09", 3)));
    EXPECT_EQ(tierd::idx::read_labels(path), (std::vector<uint8_t>{7, 0, 9}));
    EXPECT_EQ(tierd::idx::read_labels(path, 3, "images.gz"), (std::vector<uint8_t>{7, 0, 9}));
}

TEST_F(Idx, LabelsOfAnotherCountAreRefusedNamingBothFiles) {
    const auto path = write_raw("labels.idx", idx_bytes({2}, std::string("\x01\x02", 2)));
    auto e = error_of([&] { tierd::idx::read_labels(path, 3, "/data/images.gz"); });
    EXPECT_EQ(e.problem(), Problem::wrong_shape);
    EXPECT_EQ(std::string(e.what()), path + ": expected 3 IDX labels to match /data/images.gz");
    // An image file is no labels file.
    const auto images = write_raw("images.idx", three_images());
    EXPECT_EQ(std::string(error_of([&] { tierd::idx::read_labels(images, 3, "x"); }).what()),
              images + ": expected 3 IDX labels to match x");
    EXPECT_EQ(std::string(error_of([&] { tierd::idx::read_labels(images); }).what()),
              images + ": expected IDX labels (one dimension)");
}

TEST_F(Idx, TruncatedImageDataIsReportedAsSuch) {
    const std::string whole = three_images();
    for (bool gz : {false, true}) {
        const std::string cut = whole.substr(0, whole.size() - 4); // the third image is short
        const auto path = gz ? write_gz("cut.gz", cut) : write_raw("cut.idx", cut);
        tierd::idx::ImageReader images(path);
        std::vector<uint8_t> px(images.image_bytes());
        ASSERT_TRUE(images.next(px.data()));
        ASSERT_TRUE(images.next(px.data()));
        auto e = error_of([&] { images.next(px.data()); });
        EXPECT_EQ(e.problem(), Problem::truncated);
        EXPECT_EQ(std::string(e.what()), path + ": truncated (image data)");
        EXPECT_EQ(std::string(error_of([&] { tierd::idx::ImageReader(path).read(); }).what()),
                  path + ": truncated (image data)");
    }
}

TEST_F(Idx, AGzipStreamCutShortIsTruncated) {
    // A real gzip file cut in half: zlib sees the stream end early.
    std::string images;
    for (int i = 0; i < 4000; ++i)
        images += static_cast<char>((i * 7919) % 251);
    const auto whole = write_gz("whole.gz", idx_bytes({40, 10, 10}, images));
    const std::string gz = file_bytes(whole);
    const auto cut = write_raw("half.gz", gz.substr(0, gz.size() / 2));
    auto e = error_of([&] { tierd::idx::ImageReader(cut).read(); });
    EXPECT_EQ(e.problem(), Problem::truncated);
    EXPECT_EQ(std::string(e.what()), cut + ": truncated (image data)");
}

TEST_F(Idx, TruncatedHeaderIsReportedAsSuch) {
    const auto path = write_raw("short.idx", idx_bytes({3, 2, 3}, "").substr(0, 9));
    auto e = error_of([&] { tierd::idx::File f(path); });
    EXPECT_EQ(e.problem(), Problem::truncated);
    EXPECT_EQ(std::string(e.what()), path + ": truncated (header)");
    const auto empty = write_raw("empty.idx", "");
    EXPECT_EQ(std::string(error_of([&] { tierd::idx::File f(empty); }).what()),
              empty + ": truncated (header)");
}

TEST_F(Idx, WrongMagicIsNotAnIdxFile) {
    const std::vector<std::string> not_idx = {
        idx_bytes({3, 2, 3}, std::string(18, 'x'), 0x0D), // floats
        idx_bytes({}, ""),                                // no dimensions
        idx_bytes({1, 1, 1, 1, 1}, "x"),                  // five
        std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16),
        std::string("\x01\x00\x08\x01\x00\x00\x00\x01x", 9),
    };
    for (std::size_t i = 0; i < not_idx.size(); ++i) {
        const auto path = write_gz("bad" + std::to_string(i) + ".idx.gz", not_idx[i]);
        auto e = error_of([&] { tierd::idx::ImageReader r(path); });
        EXPECT_EQ(e.problem(), Problem::not_idx) << i;
        EXPECT_EQ(std::string(e.what()), path + ": not an IDX file of unsigned bytes") << i;
    }
}

TEST_F(Idx, OtherShapesAreNotImages) {
    for (const auto &[name, bytes] : std::vector<std::pair<std::string, std::string>>{
             {"labels", idx_bytes({3}, "abc")},
             {"zero-count", idx_bytes({0, 2, 3}, "")},
             {"zero-rows", idx_bytes({3, 0, 3}, "")},
             {"four-d", idx_bytes({1, 1, 1, 1}, "x")}}) {
        const auto path = write_raw(name, bytes);
        auto e = error_of([&] { tierd::idx::ImageReader r(path); });
        EXPECT_EQ(e.problem(), Problem::wrong_shape) << name;
        EXPECT_EQ(std::string(e.what()), path + ": expected IDX images (count x rows x columns)");
    }
}

TEST_F(Idx, MissingFileCannotBeOpened) {
    const std::string path = (dir_ / "nope.gz").string();
    auto e = error_of([&] { tierd::idx::ImageReader r(path); });
    EXPECT_EQ(e.problem(), Problem::cannot_open);
    EXPECT_EQ(std::string(e.what()), path + ": cannot open");
}

TEST_F(Idx, ADirectoryCannotBeRead) {
    auto e = error_of([&] { tierd::idx::File f(dir_.string()); });
    EXPECT_EQ(e.problem(), Problem::read_error);
    EXPECT_EQ(std::string(e.what()), dir_.string() + ": cannot read (header): Is a directory");
}

// A header may claim far more than the file holds: the bulk read fails as truncated, it
// does not try to allocate the claimed 3 GB first.
TEST_F(Idx, AHeaderThatLiesAboutItsSizeEndsInTruncated) {
    const auto path = write_gz("liar.gz", idx_bytes({4000000, 28, 28}, std::string(784 * 2, 'x')));
    tierd::idx::ImageReader images(path);
    EXPECT_EQ(images.count(), 4000000u);
    auto e = error_of([&] { images.read(); });
    EXPECT_EQ(e.problem(), Problem::truncated);
    const auto labels = write_raw("liar-labels", idx_bytes({0xffffffffu}, "ab"));
    EXPECT_EQ(error_of([&] { tierd::idx::read_labels(labels); }).problem(), Problem::truncated);
}

TEST_F(Idx, DimensionsWhoseProductOverflowsAreRefused) {
    const auto path = write_raw("huge", idx_bytes({1, 0xffffffffu, 0xffffffffu, 0xffffffffu}, "x"));
    auto e = error_of([&] { tierd::idx::File f(path); });
    EXPECT_EQ(e.problem(), Problem::wrong_shape);
    EXPECT_EQ(std::string(e.what()), path + ": IDX dimensions too large");
    const auto wide = write_raw("wide", idx_bytes({1, 0x80000000u, 1}, "x"));
    EXPECT_EQ(std::string(error_of([&] { tierd::idx::ImageReader r(wide); }).what()),
              wide + ": IDX dimensions too large");
}

TEST_F(Idx, DataBeyondTheHeadersCountIsFoundByExpectEnd) {
    const auto path = write_gz("long.gz", three_images() + "extra");
    tierd::idx::ImageReader images(path);
    EXPECT_EQ(images.read().size(), 18u);
    auto e = error_of([&] { images.expect_end(); });
    EXPECT_EQ(e.problem(), Problem::wrong_shape);
    EXPECT_EQ(std::string(e.what()), path + ": longer than its header says");
}

TEST_F(Idx, ReadersMoveWithTheirFile) {
    tierd::idx::File a(write_raw("labels", idx_bytes({2}, "xy")));
    tierd::idx::File b = std::move(a);
    unsigned char two[2] = {};
    b.read(two, 2, "labels");
    EXPECT_EQ(two[1], 'y');
    b.expect_end();
}

// The real dataset, as the agent's IDX source and the tools read it.
TEST(IdxFashionMnist, TestSplitImagesAndLabelsAgree) {
    const std::string dir = "/usr/share/datasets/fashion-mnist";
    if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    tierd::idx::ImageReader images(dir + "/t10k-images-idx3-ubyte.gz");
    EXPECT_EQ(images.count(), 10000u);
    EXPECT_EQ(images.rows(), 28);
    EXPECT_EQ(images.cols(), 28);
    auto pixels = images.read();
    EXPECT_EQ(pixels.size(), 10000u * 784u);
    images.expect_end();
    auto labels =
        tierd::idx::read_labels(dir + "/t10k-labels-idx1-ubyte.gz", images.count(), images.path());
    ASSERT_EQ(labels.size(), 10000u);
    EXPECT_EQ(labels[0], 9); // the first test image is an ankle boot
    for (uint8_t l : labels)
        ASSERT_LT(l, 10);
}

} // namespace
