// source-idx: the images of an IDX file (Fashion-MNIST's format, gzipped or raw), with
// their labels from a second IDX file when `labels` is set. The header (and the labels)
// are read in create(); next() reads one image per call (worker thread).
#include <tierd/plugin.hpp>

#include <zlib.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace {

// An IDX file read through zlib, which reads gzipped and plain files alike.
class IdxFile {
  public:
    explicit IdxFile(const std::string &path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
        if (file_ == nullptr)
            throw tierd::Error(TIERD_ENOENT, path + ": cannot open");
    }
    ~IdxFile() {
        if (file_ != nullptr)
            gzclose(file_);
    }
    IdxFile(const IdxFile &) = delete;
    IdxFile &operator=(const IdxFile &) = delete;

    // Big-endian header: 0, 0, type (0x08 = unsigned byte), dimension count; then the
    // dimensions.
    std::vector<uint32_t> header() {
        std::array<unsigned char, 4> magic{};
        read(magic.data(), magic.size(), "header");
        if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4)
            throw tierd::Error(TIERD_EINVAL, path_ + ": not an IDX file of unsigned bytes");
        std::vector<uint32_t> dims(magic[3]);
        for (auto &d : dims) {
            std::array<unsigned char, 4> b{};
            read(b.data(), b.size(), "header");
            d = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
        }
        return dims;
    }

    void read(void *out, std::size_t n, const char *what) {
        if (gzread(file_, out, static_cast<unsigned>(n)) != static_cast<int>(n))
            throw tierd::Error(TIERD_EIO, path_ + ": truncated (" + what + ")");
    }

  private:
    std::string path_;
    gzFile file_;
};

class SourceIdx {
  public:
    static constexpr const char *name = "source-idx";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "images of an IDX file (gzipped or raw), labelled by a second IDX file";
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_string("path", "", "IDX images file ([source] path)"),
        tierd::key_string("labels", "", "IDX labels file; \"\" = unlabelled ([source] labels)"),
    };

    SourceIdx(tierd::Host, const tierd::Config &config)
        : path_(config.get_string("path")), images_(path_) {
        auto dims = images_.header();
        if (dims.size() != 3 || dims[0] == 0 || dims[1] == 0 || dims[2] == 0)
            throw tierd::Error(TIERD_EINVAL,
                               path_ + ": expected IDX images (count x rows x columns)");
        count_ = dims[0];
        rows_ = static_cast<int>(dims[1]);
        cols_ = static_cast<int>(dims[2]);
        const std::string labels = config.get_string("labels");
        if (!labels.empty()) {
            IdxFile file(labels);
            auto ldims = file.header();
            if (ldims.size() != 1 || ldims[0] != count_)
                throw tierd::Error(TIERD_EINVAL, labels + ": expected " + std::to_string(count_) +
                                                     " IDX labels to match " + path_);
            labels_.resize(count_);
            file.read(labels_.data(), labels_.size(), "labels");
        }
        name_ = std::filesystem::path(path_).filename().string();
        description_ = "idx:" + path_ + " (" + std::to_string(count_) + " images " +
                       std::to_string(rows_) + "x" + std::to_string(cols_) +
                       (labels_.empty() ? ", unlabelled)" : ", labelled)");
    }

    int next(tierd_frame &out) {
        if (index_ >= count_)
            return TIERD_EOF;
        std::vector<uint8_t> pixels(static_cast<std::size_t>(rows_) * static_cast<std::size_t>(cols_));
        images_.read(pixels.data(), pixels.size(), "image data");
        tierd::set_frame_pixels(out, std::move(pixels), cols_, rows_, TIERD_PIXEL_GRAY8);
        tierd::copy_string(out.id, name_ + "#" + std::to_string(index_));
        out.label = labels_.empty() ? -1 : labels_[index_];
        ++index_;
        return TIERD_OK;
    }

    void release(tierd_frame &frame) { tierd::release_frame_pixels(frame); }

    const char *describe() const { return description_.c_str(); }

  private:
    std::string path_, name_, description_;
    IdxFile images_;
    uint32_t count_ = 0, index_ = 0;
    int rows_ = 0, cols_ = 0;
    std::vector<uint8_t> labels_;
};

} // namespace

TIERD_PLUGIN(SourceIdx, TIERD_KIND_SOURCE)
