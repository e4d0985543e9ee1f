#include "agent/pipeline/json_writer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace tierd {
namespace {

// One step of UTF-8 at `s[i]`, as nlohmann's serializer takes it with
// error_handler_t::replace: a valid sequence (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF) is kept whole; a byte that cannot start one is one U+FFFD; a
// sequence cut short by a byte that cannot continue it is one U+FFFD, and that byte is
// read again as the start of the next; a sequence cut short by the end is one U+FFFD.
// Returns the bytes consumed and sets `valid`.
std::size_t utf8_step(std::string_view s, std::size_t i, bool &valid) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF; // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        valid = false;
        return 1;
    }
    for (std::size_t k = 1; k < n; ++k) {
        if (i + k >= s.size()) {
            valid = false;
            return s.size() - i;
        }
        const unsigned char b = byte(i + k);
        const bool ok = k == 1 ? (b >= lo && b <= hi) : (b & 0xC0) == 0x80;
        if (!ok) {
            valid = false;
            return k;
        }
    }
    valid = true;
    return n;
}

} // namespace

void JsonWriter::append_string(std::string &out, std::string_view value) {
    out += '"';
    for (std::size_t i = 0; i < value.size();) {
        const auto c = static_cast<unsigned char>(value[i]);
        if (c < 0x80) {
            switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20)
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
                else
                    out += static_cast<char>(c);
            }
            ++i;
            continue;
        }
        bool valid = false;
        const std::size_t n = utf8_step(value, i, valid);
        if (valid)
            out.append(value.data() + i, n);
        else
            out += "\xEF\xBF\xBD"; // U+FFFD
        i += n;
    }
    out += '"';
}

void JsonWriter::append_double(std::string &out, double value) {
    if (!std::isfinite(value)) {
        out += "null";
        return;
    }
    // nlohmann's own Grisu2 formatting (what dump() calls), so that the digits are the same.
    char buffer[64];
    const char *end = nlohmann::detail::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, static_cast<std::size_t>(end - buffer));
}

void JsonWriter::key(std::string_view name) {
    if (!first_)
        out_ += ',';
    first_ = false;
    append_string(out_, name);
    out_ += ':';
}

void JsonWriter::string(std::string_view key_name, std::string_view value) {
    key(key_name);
    append_string(out_, value);
}

void JsonWriter::number(std::string_view key_name, double value) {
    key(key_name);
    append_double(out_, value);
}

void JsonWriter::integer(std::string_view key_name, std::int64_t value) {
    key(key_name);
    fmt::format_to(std::back_inserter(out_), "{}", value);
}

void JsonWriter::unsigned_integer(std::string_view key_name, std::uint64_t value) {
    key(key_name);
    fmt::format_to(std::back_inserter(out_), "{}", value);
}

void JsonWriter::boolean(std::string_view key_name, bool value) {
    key(key_name);
    out_ += value ? "true" : "false";
}

void JsonWriter::raw(std::string_view name, std::string_view json) {
    key(name);
    out_ += json;
}

void JsonWriter::begin_object(std::string_view key_name) {
    key(key_name);
    out_ += '{';
    first_ = true;
}

void JsonWriter::end_object() {
    out_ += '}';
    first_ = false;
}

} // namespace tierd
