#include "agent/config/config_key.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <limits>

namespace tierd {
namespace {

// Comment lines in a generated file stay within this many columns.
constexpr std::size_t kCommentWidth = 92;

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string toml_string(const std::string &s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                static const char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + "\"";
}

std::string range_note(const ConfigKey &key) {
    if (key.min && key.max)
        return "# range: [" + format_number(*key.min) + ", " + format_number(*key.max) + "]\n";
    if (key.min)
        return "# range: >= " + format_number(*key.min) + "\n";
    if (key.max)
        return "# range: <= " + format_number(*key.max) + "\n";
    return "";
}

} // namespace

std::string toml_type_name(const toml::node &n) {
    switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: return "nothing";
    }
    return "nothing";
}

std::string expected_type_text(const ConfigKey &key) {
    if (key.list)
        return "an array of strings";
    switch (key.type) {
    case TIERD_CONFIG_BOOL: return "a boolean";
    case TIERD_CONFIG_INT: return "an integer";
    case TIERD_CONFIG_DOUBLE: return "a number";
    case TIERD_CONFIG_STRING:
    case TIERD_CONFIG_ENUM:
    case TIERD_CONFIG_PATH: return "a string";
    }
    return "a value";
}

std::string wrong_type_message(const ConfigKey &key, const toml::node &node) {
    return "expected " + expected_type_text(key) + ", got " + toml_type_name(node);
}

std::optional<ConfigValue> scalar_value(const toml::node &node, tierd_config_type type) {
    switch (type) {
    case TIERD_CONFIG_BOOL:
        if (auto v = node.value_exact<bool>())
            return ConfigValue(*v);
        return std::nullopt;
    case TIERD_CONFIG_INT:
        if (auto v = node.value_exact<std::int64_t>())
            return ConfigValue(*v);
        return std::nullopt;
    case TIERD_CONFIG_DOUBLE:
        if (auto v = node.value_exact<double>())
            return ConfigValue(*v);
        if (auto v = node.value_exact<std::int64_t>())
            return ConfigValue(static_cast<double>(*v));
        return std::nullopt;
    case TIERD_CONFIG_STRING:
    case TIERD_CONFIG_ENUM:
    case TIERD_CONFIG_PATH:
        if (auto v = node.value_exact<std::string>())
            return ConfigValue(std::move(*v));
        return std::nullopt;
    }
    return std::nullopt;
}

std::string format_number(double value) {
    // Whole numbers as integers: to_chars' shortest form writes 100000 as "1e+05".
    // The range is checked first: casting a double outside int64's range is undefined.
    if (value > -1e15 && value < 1e15 &&
        value == static_cast<double>(static_cast<std::int64_t>(value)))
        return std::to_string(static_cast<std::int64_t>(value));
    std::array<char, 64> buf{};
    auto [ptr, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    if (ec != std::errc())
        return "?";
    return std::string(buf.data(), ptr);
}

std::string toml_literal(const ConfigValue &value) {
    if (const auto *b = std::get_if<bool>(&value))
        return *b ? "true" : "false";
    if (const auto *i = std::get_if<std::int64_t>(&value))
        return std::to_string(*i);
    if (const auto *d = std::get_if<double>(&value)) {
        std::string text = format_number(*d);
        // Keep it a TOML float ("4" would read back as an integer).
        if (text.find_first_of(".ein") == std::string::npos)
            text += ".0";
        return text;
    }
    if (const auto *list = std::get_if<std::vector<std::string>>(&value)) {
        std::string out = "[";
        for (std::size_t i = 0; i < list->size(); ++i)
            out += (i > 0 ? ", " : "") + toml_string((*list)[i]);
        return out + "]";
    }
    return toml_string(std::get<std::string>(value));
}

std::string comment_lines(std::string_view text) {
    std::string out, line = "#";
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t space = text.find(' ', at);
        const std::string_view word =
            text.substr(at, space == std::string_view::npos ? std::string_view::npos : space - at);
        at = space == std::string_view::npos ? text.size() : space + 1;
        if (word.empty())
            continue;
        if (line.size() > 1 && line.size() + 1 + word.size() > kCommentWidth) {
            out += line + "\n";
            line = "#";
        }
        line += " ";
        line += word;
    }
    if (line.size() > 1)
        out += line + "\n";
    return out;
}

std::string render_key_toml(const ConfigKey &key) {
    std::string out = comment_lines(key.doc);
    if (key.type == TIERD_CONFIG_ENUM) {
        out += "# choices: ";
        for (std::size_t c = 0; c < key.choices.size(); ++c)
            out += (c > 0 ? "|" : "") + key.choices[c];
        out += '\n';
    }
    out += range_note(key);
    if (key.must_exist())
        out += "# must name a readable file (\"\" = unset)\n";
    if (key.secret())
        out += "# secret: never logged or shown in status\n";
    out += key.name + " = " + toml_literal(key.default_value) + "\n";
    return out;
}

std::string did_you_mean(std::string_view name, const std::vector<std::string_view> &known) {
    std::string_view best;
    std::size_t best_d = std::numeric_limits<std::size_t>::max();
    for (auto k : known) {
        auto d = edit_distance(name, k);
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    if (best.empty() || best_d > std::max<std::size_t>(2, name.size() / 3))
        return {};
    return " (did you mean '" + std::string(best) + "'?)";
}

bool readable_file(const std::string &path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), R_OK) == 0;
}

} // namespace tierd
