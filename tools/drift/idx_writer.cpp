#include "tools/drift/idx_writer.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace tierd::drift {

IdxWriter::IdxWriter(std::filesystem::path path, const std::vector<uint32_t> &dims)
    : path_(std::move(path)), partial_(path_.string() + ".partial") {
    if (dims.empty() || dims.size() > 4)
        throw std::invalid_argument("IdxWriter: 1 to 4 dimensions");
    expected_items_ = dims[0];
    for (std::size_t i = 1; i < dims.size(); ++i)
        item_bytes_ *= dims[i];
    out_.open(partial_, std::ios::binary | std::ios::trunc);
    if (!out_)
        fail(std::strerror(errno));
    std::vector<char> header = {0, 0, 0x08, static_cast<char>(dims.size())};
    for (const uint32_t d : dims)
        for (int shift = 24; shift >= 0; shift -= 8)
            header.push_back(static_cast<char>((d >> shift) & 0xFF));
    out_.write(header.data(), static_cast<std::streamsize>(header.size()));
    if (!out_)
        fail(std::strerror(errno));
}

IdxWriter::~IdxWriter() {
    if (finished_)
        return;
    out_.close();
    std::error_code ignored;
    std::filesystem::remove(partial_, ignored);
}

void IdxWriter::append(const uint8_t *item) {
    if (items_ >= expected_items_)
        throw std::logic_error(path_.string() + ": more items than its header says");
    out_.write(reinterpret_cast<const char *>(item), static_cast<std::streamsize>(item_bytes_));
    if (!out_)
        fail(std::strerror(errno));
    ++items_;
}

void IdxWriter::finish() {
    if (items_ != expected_items_)
        throw std::logic_error(path_.string() + ": " + std::to_string(items_) + " items written, " +
                               std::to_string(expected_items_) + " in its header");
    out_.flush();
    if (!out_)
        fail(std::strerror(errno));
    out_.close();
    if (out_.fail())
        fail(std::strerror(errno));
    std::error_code error;
    std::filesystem::rename(partial_, path_, error);
    if (error)
        throw std::runtime_error(path_.string() + ": cannot write: " + error.message());
    finished_ = true;
}

void IdxWriter::fail(const std::string &why) const {
    throw std::runtime_error(partial_.string() + ": cannot write: " + why);
}

} // namespace tierd::drift
