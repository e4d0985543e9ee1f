// Plain-text tables for people: a header row, columns padded to their widest cell.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tierctl {

class Table {
  public:
    explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    bool empty() const { return rows_.empty(); }
    void print(std::ostream &out) const;

  private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text, counting code points (enough for ids, names and "—").
size_t display_width(const std::string &text);

} // namespace tierctl
