#include "core/config_map.hpp"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace scheduler_mo {

std::optional<double> get_number(const ConfigMap &map, std::string_view key) {
    auto it = map.find(key);
    if (it == map.end())
        return std::nullopt;
    if (const double *number = std::get_if<double>(&it->second)) {
        if (!std::isfinite(*number))
            throw std::invalid_argument(std::string(key) + ": must be a finite number");
        return *number;
    }
    const std::string &text = std::get<std::string>(it->second);
    // strtod needs a NUL-terminated string and reports where it stopped: all of the text
    // must be the number (no "0.5ms").
    char *end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value))
        throw std::invalid_argument(std::string(key) + ": expected a number, got \"" + text + "\"");
    return value;
}

std::optional<std::string> get_string(const ConfigMap &map, std::string_view key) {
    auto it = map.find(key);
    if (it == map.end())
        return std::nullopt;
    if (const std::string *text = std::get_if<std::string>(&it->second))
        return *text;
    throw std::invalid_argument(std::string(key) + ": expected a string, got a number");
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        if (comma == std::string_view::npos)
            comma = text.size();
        std::string_view item = text.substr(start, comma - start);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
            item.remove_suffix(1);
        if (!item.empty())
            items.emplace_back(item);
        start = comma + 1;
    }
    return items;
}

} // namespace scheduler_mo
