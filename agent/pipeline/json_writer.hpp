// Writes one JSON object straight into a string, for documents the agent produces per
// task (results): building an nlohmann::json tree first and then dumping it cost more
// per task than the inference of a small model (bench/results/local_path.md). The text is
// what nlohmann's dump(-1, ' ', false, error_handler_t::replace) writes for the same
// document, so consumers see no difference: keys must be written in sorted order (as
// nlohmann's std::map orders them), strings escaped the same way (invalid UTF-8 becomes
// U+FFFD), doubles by nlohmann's own Grisu2 routine, a non-finite double as null.
//
// Not thread-safe; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tierd {

class JsonWriter {
  public:
    explicit JsonWriter(std::string &out) : out_(out) { out_ += '{'; }
    JsonWriter(const JsonWriter &) = delete;
    JsonWriter &operator=(const JsonWriter &) = delete;

    void string(std::string_view key, std::string_view value);
    void number(std::string_view key, double value);
    void integer(std::string_view key, std::int64_t value);
    void unsigned_integer(std::string_view key, std::uint64_t value);
    void boolean(std::string_view key, bool value);
    // `json` (already valid JSON text: an array, an object) as the value of `key`.
    void raw(std::string_view key, std::string_view json);
    // A nested object: its members follow, then end_object().
    void begin_object(std::string_view key);
    void end_object();
    // Closes the outermost object.
    void finish() { out_ += '}'; }

    // `value` as a JSON string literal, appended to `out`.
    static void append_string(std::string &out, std::string_view value);
    // `value` as nlohmann writes a double, appended to `out`.
    static void append_double(std::string &out, double value);

  private:
    void key(std::string_view name);

    std::string &out_;
    bool first_ = true;
};

} // namespace tierd
