/*
 * tierd/idx.hpp — a header-only reader for IDX files (the format of MNIST and
 * Fashion-MNIST: Debian's dataset-fashion-mnist ships them as
 * /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz),
 * gzipped or raw. C++17; it does not depend on plugin.h.
 *
 * NEEDS ZLIB: a target that includes this header links zlib (CMake: ZLIB::ZLIB, from
 * find_package(ZLIB); pkg-config: zlib; Debian: zlib1g-dev). The tierd::sdk target does
 * not link it for you, since most plugins never read IDX files.
 *
 *     tierd::idx::ImageReader images("t10k-images-idx3-ubyte.gz");   // header read here
 *     std::vector<uint8_t> pixels(images.image_bytes());
 *     while (images.next(pixels.data())) { ... }                     // one image per call
 *     auto labels = tierd::idx::read_labels("t10k-labels-idx1-ubyte.gz", images.count(),
 *                                           images.path());
 *
 * Format: a big-endian header — two zero bytes, the element type (only 0x08, unsigned
 * byte, is read here), the number of dimensions (1 to 4) — then one big-endian uint32
 * per dimension, then the elements row-major. The first dimension counts the items
 * (images, labels); the others give an item's shape.
 *
 * Errors are tierd::idx::Error (a std::runtime_error) whose what() names the file:
 *   "<path>: cannot open"                                   Problem::cannot_open
 *   "<path>: not an IDX file of unsigned bytes"             Problem::not_idx
 *   "<path>: truncated (<what>)"  (header, image data, labels, ...)   Problem::truncated
 *   "<path>: cannot read (<what>): <reason>" / "<path>: corrupt gzip data (<what>)"
 *                                                           Problem::read_error
 *   "<path>: expected IDX images (count x rows x columns)",
 *   "<labels>: expected <n> IDX labels to match <images>",
 *   "<path>: expected IDX labels (one dimension)",
 *   "<path>: IDX dimensions too large",
 *   "<path>: longer than its header says"                   Problem::wrong_shape
 * A plugin maps problem() to a TIERD_E* code if it wants to (cannot_open -> TIERD_ENOENT,
 * truncated / read_error -> TIERD_EIO, the rest -> TIERD_EINVAL).
 *
 * Threads and blocking: a reader is used by one thread at a time; every call reads the
 * file and may block, so in a plugin call it only from callbacks documented as running on
 * a worker (create(), a source's next()), never on the agent's loop thread.
 *
 * Memory: a reader holds zlib's buffers (about 400 KB). The sizes in a header are not
 * trusted for allocation: the bulk reads grow their result as the data arrives, so a
 * header that claims more than the file holds costs no more than the file, and ends in
 * "truncated". image_bytes() does come from the header: a caller that opens untrusted
 * files checks it against its own bound before allocating one image.
 */
#ifndef TIERD_IDX_HPP
#define TIERD_IDX_HPP

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tierd {
namespace idx {

/* Why a read failed; what() has the words. */
enum class Problem {
    cannot_open, /* missing or unreadable file */
    not_idx,     /* not IDX, or an element type other than unsigned byte */
    truncated,   /* the file ends before its header says it does */
    read_error,  /* an I/O error, or a gzip stream that is corrupt (not just cut short) */
    wrong_shape, /* IDX, but not the shape the caller asked for */
};

class Error : public std::runtime_error {
  public:
    Error(Problem problem, const std::string &message)
        : std::runtime_error(message), problem_(problem) {}
    Problem problem() const noexcept { return problem_; }

  private:
    Problem problem_;
};

/* One IDX file of unsigned bytes, read front to back. Movable, not copyable. */
class File {
  public:
    /* Opens `path` (gzipped or raw: zlib reads both) and reads the header. */
    explicit File(std::string path) : path_(std::move(path)) {
        file_ = gzopen(path_.c_str(), "rb");
        if (file_ == nullptr)
            throw Error(Problem::cannot_open, path_ + ": cannot open");
        gzbuffer(file_, 128 * 1024); /* before the first read: fewer, larger reads */
        try {
            read_header();
        } catch (...) {
            gzclose(file_);
            throw;
        }
    }
    ~File() {
        if (file_ != nullptr)
            gzclose(file_);
    }
    File(File &&other) noexcept
        : path_(std::move(other.path_)), file_(std::exchange(other.file_, nullptr)),
          dims_(std::move(other.dims_)), item_bytes_(other.item_bytes_) {}
    File &operator=(File &&other) noexcept {
        if (this != &other) {
            if (file_ != nullptr)
                gzclose(file_);
            path_ = std::move(other.path_);
            file_ = std::exchange(other.file_, nullptr);
            dims_ = std::move(other.dims_);
            item_bytes_ = other.item_bytes_;
        }
        return *this;
    }
    File(const File &) = delete;
    File &operator=(const File &) = delete;

    const std::string &path() const noexcept { return path_; }
    /* The dimensions from the header: 1 to 4 of them. */
    const std::vector<uint32_t> &dims() const noexcept { return dims_; }
    /* The first dimension: how many items (images, labels) the file holds. */
    uint32_t count() const noexcept { return dims_[0]; }
    /* Bytes per item: the product of the other dimensions (1 for a 1-D file). */
    std::size_t item_bytes() const noexcept { return item_bytes_; }

    /* Reads exactly `n` bytes into `out`. `what` names the part for the error message:
     * "<path>: truncated (<what>)". */
    void read(void *out, std::size_t n, const char *what) {
        auto *to = static_cast<unsigned char *>(out);
        while (n > 0) {
            /* gzread takes an unsigned and answers an int: read in slices. */
            const unsigned slice = static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30));
            const int got = gzread(file_, to, slice);
            if (got <= 0 || static_cast<unsigned>(got) != slice)
                fail_read(what);
            to += got;
            n -= static_cast<std::size_t>(got);
        }
    }

    /* Reads `items` whole items and appends them to `out`. The result grows as the data
     * arrives (the count is the caller's, often from a header): a file shorter than that
     * fails with "truncated" before more than its own size is allocated. */
    void read_items(std::vector<uint8_t> &out, std::size_t items, const char *what) {
        if (item_bytes_ != 0 && items > std::numeric_limits<std::size_t>::max() / item_bytes_)
            throw Error(Problem::wrong_shape, path_ + ": IDX dimensions too large");
        std::size_t left = items * item_bytes_;
        constexpr std::size_t kSlice = std::size_t{1} << 20;
        out.reserve(out.size() + std::min(left, 16 * kSlice));
        while (left > 0) {
            const std::size_t n = std::min(left, kSlice);
            const std::size_t at = out.size();
            out.resize(at + n);
            read(out.data() + at, n, what);
            left -= n;
        }
    }

    /* Checks that nothing follows what was read: "<path>: longer than its header says". */
    void expect_end() {
        unsigned char byte = 0;
        const int got = gzread(file_, &byte, 1);
        if (got < 0)
            fail_read("end of file");
        if (got > 0)
            throw Error(Problem::wrong_shape, path_ + ": longer than its header says");
    }

  private:
    void read_header() {
        unsigned char magic[4] = {};
        read(magic, sizeof magic, "header");
        if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4)
            throw Error(Problem::not_idx, path_ + ": not an IDX file of unsigned bytes");
        dims_.resize(magic[3]);
        item_bytes_ = 1;
        for (std::size_t i = 0; i < dims_.size(); ++i) {
            unsigned char b[4] = {};
            read(b, sizeof b, "header");
            dims_[i] = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) |
                       uint32_t{b[3]};
            if (i == 0)
                continue;
            if (dims_[i] != 0 && item_bytes_ > std::numeric_limits<std::size_t>::max() / dims_[i])
                throw Error(Problem::wrong_shape, path_ + ": IDX dimensions too large");
            item_bytes_ *= dims_[i];
        }
    }

    [[noreturn]] void fail_read(const char *what) {
        const int saved_errno = errno;
        int code = Z_OK;
        const char *message = gzerror(file_, &code);
        if (code == Z_ERRNO)
            throw Error(Problem::read_error,
                        path_ + ": cannot read (" + what + "): " + std::strerror(saved_errno));
        if (code == Z_DATA_ERROR)
            throw Error(Problem::read_error, path_ + ": corrupt gzip data (" + what +
                                                 "): " + (message != nullptr ? message : "?"));
        /* Z_OK (the data simply ended) or Z_BUF_ERROR (a gzip stream cut short). */
        throw Error(Problem::truncated, path_ + ": truncated (" + what + ")");
    }

    std::string path_;
    gzFile file_ = nullptr;
    std::vector<uint32_t> dims_;
    std::size_t item_bytes_ = 1;
};

/* A 3-D file (count x rows x columns) of 8-bit gray images, read one image at a time or
 * in bulk. Rows and columns are each at most INT32_MAX (they fit OpenCV's int sizes). */
class ImageReader {
  public:
    /* Throws Error as File does, and "<path>: expected IDX images (count x rows x
     * columns)" for any other shape or a zero dimension. */
    explicit ImageReader(const std::string &path) : file_(path) {
        const auto &d = file_.dims();
        if (d.size() != 3 || d[0] == 0 || d[1] == 0 || d[2] == 0)
            throw Error(Problem::wrong_shape,
                        path + ": expected IDX images (count x rows x columns)");
        if (d[1] > uint32_t{std::numeric_limits<int32_t>::max()} ||
            d[2] > uint32_t{std::numeric_limits<int32_t>::max()})
            throw Error(Problem::wrong_shape, path + ": IDX dimensions too large");
    }

    const std::string &path() const noexcept { return file_.path(); }
    uint32_t count() const noexcept { return file_.dims()[0]; }
    int rows() const noexcept { return static_cast<int>(file_.dims()[1]); }
    int cols() const noexcept { return static_cast<int>(file_.dims()[2]); }
    /* rows() * cols(): the size of one image, from the header. */
    std::size_t image_bytes() const noexcept { return file_.item_bytes(); }
    /* The index of the image the next read returns (images read so far). */
    uint32_t position() const noexcept { return position_; }
    bool at_end() const noexcept { return position_ >= count(); }

    /* Reads the next image into `pixels` (image_bytes() bytes, row-major). Returns false,
     * reading nothing, once all count() images were read; throws "<path>: truncated
     * (image data)" when the file ends early. */
    bool next(uint8_t *pixels) {
        if (at_end())
            return false;
        file_.read(pixels, image_bytes(), "image data");
        ++position_;
        return true;
    }

    /* The next min(max_images, images left) images, one after the other. */
    std::vector<uint8_t> read(std::size_t max_images = std::numeric_limits<std::size_t>::max()) {
        const std::size_t n = std::min<std::size_t>(max_images, count() - position_);
        std::vector<uint8_t> out;
        file_.read_items(out, n, "image data");
        position_ += static_cast<uint32_t>(n);
        return out;
    }

    /* After the last image: checks that the file ends there (tools that read a whole
     * dataset use it; "<path>: longer than its header says"). */
    void expect_end() { file_.expect_end(); }

  private:
    File file_;
    uint32_t position_ = 0;
};

/* A 1-D file of labels, whole: "<path>: expected IDX labels (one dimension)" otherwise. */
inline std::vector<uint8_t> read_labels(const std::string &path) {
    File file(path);
    if (file.dims().size() != 1)
        throw Error(Problem::wrong_shape, path + ": expected IDX labels (one dimension)");
    std::vector<uint8_t> labels;
    file.read_items(labels, file.count(), "labels");
    return labels;
}

/* The labels of the `count` images of `images_path`: "<path>: expected <count> IDX labels
 * to match <images_path>" when the file is not 1-D or holds another number. */
inline std::vector<uint8_t> read_labels(const std::string &path, uint32_t count,
                                        const std::string &images_path) {
    File file(path);
    if (file.dims().size() != 1 || file.count() != count)
        throw Error(Problem::wrong_shape, path + ": expected " + std::to_string(count) +
                                              " IDX labels to match " + images_path);
    std::vector<uint8_t> labels;
    file.read_items(labels, count, "labels");
    return labels;
}

} // namespace idx
} // namespace tierd

#endif /* TIERD_IDX_HPP */
