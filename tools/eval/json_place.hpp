// Reading typed values out of parsed JSON with errors that say where: the file (and line,
// for JSON Lines) and the JSON path, e.g. `gt.json: annotations[3].bbox: expected 4
// numbers [x, y, width, height], got 3 values`. Every failure throws InputError.
#pragma once

#include "tools/eval/detection_data.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tierd::eval {

// A place in an input: `source` names the file ("gt.json", or "res.jsonl:17" for a line)
// and `path` the value inside the document ("" = the document itself).
class JsonPlace {
  public:
    explicit JsonPlace(std::string source, std::string path = {})
        : source_(std::move(source)), path_(std::move(path)) {}

    JsonPlace field(std::string_view key) const;
    JsonPlace element(std::size_t index) const;

    // "gt.json: annotations[3].bbox"
    std::string describe() const;
    [[noreturn]] void fail(std::string_view what) const;

  private:
    std::string source_;
    std::string path_;
};

// Parses one JSON document; a syntax error names `place`, the parser's line and column, and
// `hint` if one is given.
nlohmann::json parse_json(std::string_view text, const JsonPlace &place,
                          std::string_view hint = {});

// The field `key` of `object` (which must be an object); a missing field is an error.
const nlohmann::json &required_field(const nlohmann::json &object, std::string_view key,
                                     const JsonPlace &place);

void expect_object(const nlohmann::json &value, const JsonPlace &place);
void expect_array(const nlohmann::json &value, const JsonPlace &place);
std::int64_t integer_value(const nlohmann::json &value, const JsonPlace &place);
double finite_number(const nlohmann::json &value, const JsonPlace &place);
// COCO's [x, y, width, height]: 4 finite numbers, width and height >= 0.
Box box_value(const nlohmann::json &value, const JsonPlace &place);

// The whole file as text; a file that cannot be read is an InputError naming it.
std::string read_text_file(const std::string &path);

} // namespace tierd::eval
