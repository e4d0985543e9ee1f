#include "agent/pipeline/image_source.hpp"

#include "agent/pipeline/offload_codec.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace tierd {
namespace {

// An IDX file read through zlib, which reads gzipped and plain files alike.
class IdxFile {
  public:
    explicit IdxFile(const std::string &path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
        if (file_ == nullptr)
            throw std::runtime_error(path + ": cannot open");
    }
    ~IdxFile() {
        if (file_ != nullptr)
            gzclose(file_);
    }
    IdxFile(const IdxFile &) = delete;
    IdxFile &operator=(const IdxFile &) = delete;

    // Big-endian header: 0, 0, type (0x08 = unsigned byte), dimension count; then the
    // dimensions. Returns the dimensions.
    std::vector<uint32_t> header() {
        std::array<unsigned char, 4> magic{};
        read(magic.data(), magic.size(), "header");
        if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4)
            throw std::runtime_error(path_ + ": not an IDX file of unsigned bytes");
        std::vector<uint32_t> dims(magic[3]);
        for (auto &d : dims) {
            std::array<unsigned char, 4> b{};
            read(b.data(), b.size(), "header");
            d = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
        }
        return dims;
    }

    void read(void *out, std::size_t n, const char *what) {
        int got = gzread(file_, out, static_cast<unsigned>(n));
        if (got != static_cast<int>(n))
            throw std::runtime_error(path_ + ": truncated (" + what + ")");
    }

  private:
    std::string path_;
    gzFile file_;
};

class IdxSource : public ImageSource {
  public:
    explicit IdxSource(const SourceConfig &config) : path_(config.path), images_(config.path) {
        auto dims = images_.header();
        if (dims.size() != 3 || dims[0] == 0 || dims[1] == 0 || dims[2] == 0)
            throw std::runtime_error(path_ + ": expected IDX images (count x rows x columns)");
        count_ = dims[0];
        rows_ = static_cast<int>(dims[1]);
        cols_ = static_cast<int>(dims[2]);
        if (!config.labels.empty()) {
            IdxFile labels(config.labels);
            auto ldims = labels.header();
            if (ldims.size() != 1 || ldims[0] != count_)
                throw std::runtime_error(config.labels + ": expected " + std::to_string(count_) +
                                         " IDX labels to match " + path_);
            labels_.resize(count_);
            labels.read(labels_.data(), labels_.size(), "labels");
        }
        name_ = std::filesystem::path(path_).filename().string();
    }

    std::optional<SourceImage> next() override {
        if (index_ >= count_)
            return std::nullopt;
        SourceImage out;
        out.image = cv::Mat(rows_, cols_, CV_8UC1);
        images_.read(out.image.data, out.image.total(), "image data");
        out.id = name_ + "#" + std::to_string(index_);
        out.label = labels_.empty() ? -1 : labels_[index_];
        ++index_;
        return out;
    }

    std::string describe() const override {
        return "idx:" + path_ + " (" + std::to_string(count_) + " images " + std::to_string(rows_) +
               "x" + std::to_string(cols_) + (labels_.empty() ? ", unlabelled)" : ", labelled)");
    }

  private:
    std::string path_, name_;
    IdxFile images_;
    uint32_t count_ = 0, index_ = 0;
    int rows_ = 0, cols_ = 0;
    std::vector<uint8_t> labels_;
};

class DirectorySource : public ImageSource {
  public:
    explicit DirectorySource(const SourceConfig &config) : path_(config.path) {
        std::error_code ec;
        if (!std::filesystem::is_directory(path_, ec))
            throw std::runtime_error(path_ + ": not a directory");
        static const std::array<std::string, 8> exts = {".png", ".jpg", ".jpeg", ".bmp",
                                                        ".pgm", ".ppm", ".tif",  ".tiff"};
        for (const auto &entry : std::filesystem::directory_iterator(path_, ec)) {
            std::string ext = entry.path().extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (entry.is_regular_file() && std::find(exts.begin(), exts.end(), ext) != exts.end())
                files_.push_back(entry.path().string());
        }
        std::sort(files_.begin(), files_.end());
        if (files_.empty())
            throw std::runtime_error(path_ + ": no image files (png, jpg, bmp, pgm, ppm, tif)");
    }

    std::optional<SourceImage> next() override {
        while (index_ < files_.size()) {
            const std::string &file = files_[index_++];
            cv::Mat img = cv::imread(file, cv::IMREAD_UNCHANGED);
            if (img.empty())
                throw std::runtime_error(file + ": cannot decode the image");
            SourceImage out;
            out.id = std::filesystem::path(file).filename().string();
            out.image = to_8bit_gray_or_bgr(img);
            return out;
        }
        return std::nullopt;
    }

    std::string describe() const override {
        return "directory:" + path_ + " (" + std::to_string(files_.size()) + " images)";
    }

    static cv::Mat to_8bit_gray_or_bgr(const cv::Mat &img) {
        cv::Mat eight = img;
        if (img.depth() != CV_8U)
            img.convertTo(eight, CV_8U, img.depth() == CV_16U ? 1.0 / 257.0 : 1.0);
        if (eight.channels() == 4) {
            cv::Mat bgr;
            cv::cvtColor(eight, bgr, cv::COLOR_BGRA2BGR);
            return bgr;
        }
        return eight;
    }

  private:
    std::string path_;
    std::vector<std::string> files_;
    std::size_t index_ = 0;
};

class VideoSource : public ImageSource {
  public:
    explicit VideoSource(const SourceConfig &config) : path_(config.path) {
        const bool camera =
            std::all_of(path_.begin(), path_.end(), [](char c) { return c >= '0' && c <= '9'; });
        bool opened = camera ? capture_.open(std::stoi(path_)) : capture_.open(path_);
        if (!opened || !capture_.isOpened())
            throw std::runtime_error(path_ +
                                     (camera ? ": cannot open camera" : ": cannot open the video"));
        name_ = camera ? "camera" + path_ : std::filesystem::path(path_).filename().string();
    }

    std::optional<SourceImage> next() override {
        cv::Mat frame;
        if (!capture_.read(frame) || frame.empty())
            return std::nullopt;
        SourceImage out;
        out.id = name_ + "#" + std::to_string(frame_++);
        out.image = DirectorySource::to_8bit_gray_or_bgr(frame);
        return out;
    }

    std::string describe() const override { return "video:" + path_; }

  private:
    std::string path_, name_;
    cv::VideoCapture capture_;
    uint64_t frame_ = 0;
};

} // namespace

std::unique_ptr<ImageSource> open_image_source(const SourceConfig &config) {
    switch (config.kind) {
    case SourceKind::idx: return std::make_unique<IdxSource>(config);
    case SourceKind::directory: return std::make_unique<DirectorySource>(config);
    case SourceKind::video: return std::make_unique<VideoSource>(config);
    case SourceKind::topic:
    case SourceKind::none: break;
    }
    throw std::runtime_error("source.kind is \"none\": there is no source to open");
}

namespace {

// The formats the input topic takes (docs/mqtt.md): PNG, JPEG, BMP, PNM (PBM/PGM/PPM),
// WebP. Everything else imdecode would try (GDAL's many formats, TIFF, JPEG 2000, EXR,
// HDR...) is refused before it reaches a codec: fuzz_image drove the process past 2 GB
// RSS from a few hundred bytes through GDAL, a cheap way to stop an agent remotely.
bool known_image_format(const std::string &p) {
    auto starts = [&p](std::string_view magic) { return p.rfind(magic, 0) == 0; };
    return starts("\x89PNG\r\n\x1a\n") || starts("\xff\xd8\xff") || starts("BM") ||
           (p.size() >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6') ||
           (p.size() >= 12 && starts("RIFF") && p.compare(8, 4, "WEBP") == 0);
}

} // namespace

std::optional<SourceImage> decode_input_image(const std::string &payload, std::uint64_t seq) {
    SourceImage out;
    if (payload.rfind("TDI1", 0) == 0) {
        std::string error;
        auto request = decode_offload_request(payload, error);
        if (!request || request->image.empty())
            return std::nullopt; // tensor and probe requests carry no image
        out.image = request->image;
        out.id = request->task_id;
        return out;
    }
    if (!known_image_format(payload))
        return std::nullopt;
    try {
        // imdecode reads the buffer and never writes it: the const_cast is only for cv::Mat.
        cv::Mat bytes(1, static_cast<int>(payload.size()), CV_8UC1,
                      const_cast<char *>(payload.data()));
        cv::Mat img = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
        if (img.empty())
            return std::nullopt;
        out.image = DirectorySource::to_8bit_gray_or_bgr(img);
    } catch (const cv::Exception &) {
        return std::nullopt; // a codec that throws on a malformed file: undecodable too
    }
    out.id = "input#" + std::to_string(seq);
    return out;
}

} // namespace tierd
