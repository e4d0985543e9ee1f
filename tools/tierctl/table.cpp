#include "tools/tierctl/table.hpp"

#include <algorithm>

namespace tierctl {

size_t display_width(const std::string &text) {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

void Table::print(std::ostream &out) const {
    std::vector<size_t> widths(header_.size(), 0);
    auto measure = [&](const std::vector<std::string> &row) {
        for (size_t i = 0; i < row.size() && i < widths.size(); ++i)
            widths[i] = std::max(widths[i], display_width(row[i]));
    };
    measure(header_);
    for (const auto &row : rows_)
        measure(row);
    auto emit = [&](const std::vector<std::string> &row) {
        std::string line;
        for (size_t i = 0; i < widths.size(); ++i) {
            const std::string cell = i < row.size() ? row[i] : std::string();
            line += cell;
            if (i + 1 < widths.size())
                line.append(widths[i] - display_width(cell) + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out << line << "\n";
    };
    emit(header_);
    for (const auto &row : rows_)
        emit(row);
}

} // namespace tierctl
