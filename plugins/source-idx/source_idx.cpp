// source-idx: the images of an IDX file (Fashion-MNIST's format, gzipped or raw), with
// their labels from a second IDX file when `labels` is set. The header (and the labels)
// are read in create(); next() reads one image per call (worker thread). `repeat` plays
// the file that many times (0: until the agent stops), for a stream that lasts as long as
// a soak or a benchmark needs without a file that large.
#include <tierd/idx.hpp>
#include <tierd/plugin.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace {

// The SDK's reader's errors as the ABI's codes: a missing file, a short or unreadable one,
// and a file that is not IDX images.
int idx_code(const tierd::idx::Error &e) {
    switch (e.problem()) {
    case tierd::idx::Problem::cannot_open: return TIERD_ENOENT;
    case tierd::idx::Problem::truncated:
    case tierd::idx::Problem::read_error: return TIERD_EIO;
    default: return TIERD_EINVAL;
    }
}

template <class Fn> auto idx_call(Fn &&fn) {
    try {
        return fn();
    } catch (const tierd::idx::Error &e) {
        throw tierd::Error(idx_code(e), e.what());
    }
}

class SourceIdx {
  public:
    static constexpr const char *name = "source-idx";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "images of an IDX file (gzipped or raw), labelled by a second IDX file";
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_string("path", "", "IDX images file ([source] path)"),
        tierd::key_string("labels", "", "IDX labels file; \"\" = unlabelled ([source] labels)"),
        tierd::key_int("repeat", "1", 0, 1e9,
                       "how many times the file is played; 0 = again and again until the "
                       "agent stops"),
    };

    SourceIdx(tierd::Host, const tierd::Config &config)
        : path_(config.get_string("path")), repeat_(config.get_int("repeat")),
          images_(idx_call([&] { return tierd::idx::ImageReader(path_); })) {
        const std::string labels = config.get_string("labels");
        if (!labels.empty())
            labels_ =
                idx_call([&] { return tierd::idx::read_labels(labels, images_.count(), path_); });
        name_ = std::filesystem::path(path_).filename().string();
        description_ = "idx:" + path_ + " (" + std::to_string(images_.count()) + " images " +
                       std::to_string(images_.rows()) + "x" + std::to_string(images_.cols()) +
                       (labels_.empty() ? ", unlabelled)" : ", labelled)");
    }

    int next(tierd_frame &out) {
        if (images_.at_end()) {
            ++played_;
            if (repeat_ != 0 && played_ >= repeat_)
                return TIERD_EOF;
            // A gzipped file cannot seek: the next pass opens it again.
            images_ = idx_call([&] { return tierd::idx::ImageReader(path_); });
            if (images_.at_end())
                return TIERD_EOF;
        }
        const uint32_t index = images_.position();
        std::vector<uint8_t> pixels(images_.image_bytes());
        idx_call([&] { return images_.next(pixels.data()); });
        tierd::set_frame_pixels(out, std::move(pixels), images_.cols(), images_.rows(),
                                TIERD_PIXEL_GRAY8);
        tierd::copy_string(out.id, name_ + "#" + std::to_string(index));
        out.label = labels_.empty() ? -1 : labels_[index];
        return TIERD_OK;
    }

    void release(tierd_frame &frame) { tierd::release_frame_pixels(frame); }

    const char *describe() const { return description_.c_str(); }

  private:
    std::string path_, name_, description_;
    int64_t repeat_ = 1, played_ = 0; // passes asked for (0 = no end) and done
    tierd::idx::ImageReader images_;
    std::vector<uint8_t> labels_;
};

} // namespace

TIERD_PLUGIN(SourceIdx, TIERD_KIND_SOURCE)
