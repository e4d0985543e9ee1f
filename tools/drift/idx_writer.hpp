// Writes an IDX file of unsigned bytes (the format tierd::idx reads: two zero bytes, type
// 0x08, the number of dimensions, one big-endian uint32 per dimension, then the items),
// uncompressed, item by item. The file appears under its name only when finish()
// succeeds: it is written to "<path>.partial" and renamed, so a reader never sees half a
// file and a failed run leaves no file that looks whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

namespace tierd::drift {

class IdxWriter {
  public:
    // `dims`: 1 to 4 dimensions, the first the number of items (e.g. {count, 28, 28} for
    // images, {count} for labels). Throws std::runtime_error "<path>.partial: cannot
    // write: <reason>" when the file cannot be created.
    IdxWriter(std::filesystem::path path, const std::vector<uint32_t> &dims);
    ~IdxWriter(); // without finish(): removes the partial file
    IdxWriter(const IdxWriter &) = delete;
    IdxWriter &operator=(const IdxWriter &) = delete;

    // Appends one item: exactly item_bytes() bytes.
    void append(const uint8_t *item);
    std::size_t item_bytes() const { return item_bytes_; }

    // Checks that dims[0] items were appended, flushes, closes and renames. Throws
    // std::runtime_error naming the file on a short count or an I/O error.
    void finish();

  private:
    [[noreturn]] void fail(const std::string &why) const;

    std::filesystem::path path_, partial_;
    std::ofstream out_;
    uint32_t expected_items_ = 0, items_ = 0;
    std::size_t item_bytes_ = 1;
    bool finished_ = false;
};

} // namespace tierd::drift
