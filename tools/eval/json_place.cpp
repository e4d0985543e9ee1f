#include "tools/eval/json_place.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

namespace tierd::eval {

namespace {

std::string kind_of(const nlohmann::json &value) {
    switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number with a fraction";
    default: return "something else";
    }
}

} // namespace

JsonPlace JsonPlace::field(std::string_view key) const {
    return JsonPlace(source_, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

JsonPlace JsonPlace::element(std::size_t index) const {
    return JsonPlace(source_, path_ + "[" + std::to_string(index) + "]");
}

std::string JsonPlace::describe() const {
    return path_.empty() ? source_ : source_ + ": " + path_;
}

void JsonPlace::fail(std::string_view what) const {
    throw InputError(describe() + ": " + std::string(what));
}

nlohmann::json parse_json(std::string_view text, const JsonPlace &place, std::string_view hint) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error &error) {
        // Drop the library's "[json.exception.parse_error.101] " tag; keep line and column.
        std::string_view message = error.what();
        if (const auto tag_end = message.find("] "); tag_end != std::string_view::npos)
            message.remove_prefix(tag_end + 2);
        std::string what = "not valid JSON: " + std::string(message);
        if (!hint.empty())
            what += " (" + std::string(hint) + ")";
        place.fail(what);
    }
}

const nlohmann::json &required_field(const nlohmann::json &object, std::string_view key,
                                     const JsonPlace &place) {
    expect_object(object, place);
    const auto found = object.find(key);
    if (found == object.end())
        place.fail("missing \"" + std::string(key) + "\"");
    return *found;
}

void expect_object(const nlohmann::json &value, const JsonPlace &place) {
    if (!value.is_object())
        place.fail("expected an object, got " + kind_of(value));
}

void expect_array(const nlohmann::json &value, const JsonPlace &place) {
    if (!value.is_array())
        place.fail("expected an array, got " + kind_of(value));
}

std::int64_t integer_value(const nlohmann::json &value, const JsonPlace &place) {
    if (value.is_number_unsigned()) {
        const auto number = value.get<std::uint64_t>();
        if (number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            place.fail("integer out of range");
        return static_cast<std::int64_t>(number);
    }
    if (!value.is_number_integer())
        place.fail("expected an integer, got " + kind_of(value));
    return value.get<std::int64_t>();
}

double finite_number(const nlohmann::json &value, const JsonPlace &place) {
    if (!value.is_number())
        place.fail("expected a number, got " + kind_of(value));
    const double number = value.get<double>();
    if (!std::isfinite(number))
        place.fail("expected a finite number");
    return number;
}

Box box_value(const nlohmann::json &value, const JsonPlace &place) {
    if (!value.is_array() || value.size() != 4)
        place.fail("expected 4 numbers [x, y, width, height], got " +
                   (value.is_array() ? std::to_string(value.size()) + " values" : kind_of(value)));
    Box box;
    box.x = finite_number(value[0], place.element(0));
    box.y = finite_number(value[1], place.element(1));
    box.width = finite_number(value[2], place.element(2));
    box.height = finite_number(value[3], place.element(3));
    if (box.width < 0 || box.height < 0)
        place.fail("width and height must be >= 0 (COCO boxes are [x, y, width, height])");
    return box;
}

std::string read_text_file(const std::string &path) {
    std::error_code error;
    if (std::filesystem::is_directory(path, error))
        throw InputError("cannot read " + path + ": it is a directory");
    std::ifstream file(path, std::ios::binary);
    if (!file)
        throw InputError("cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream text;
    text << file.rdbuf();
    if (file.bad())
        throw InputError("cannot read " + path + ": read error");
    return std::move(text).str();
}

} // namespace tierd::eval
