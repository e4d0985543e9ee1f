// One typed config key, as the core declares its own (core_config_keys.hpp) and as the
// host copies a plugin's tierd_config_key declarations (plugin_host/plugin_config_key.hpp):
// the one type vocabulary both validators use, and the one way both render a key into a
// commented default file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tierd/plugin.h>
#include <toml++/toml.h>

namespace tierd {

// A resolved value. BOOL keys hold bool, INT keys std::int64_t, DOUBLE keys double;
// STRING, ENUM and PATH keys std::string; list keys std::vector<std::string>.
using ConfigValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

struct ConfigKey {
    std::string name;
    tierd_config_type type = TIERD_CONFIG_STRING;
    // An array of `type` values (agent.groups, plugins.search_path); STRING and PATH only.
    // Core keys only: the C ABI has no list type.
    bool list = false;
    std::uint32_t flags = 0;          // TIERD_CONFIG_* flags
    ConfigValue default_value;        // of the type above
    std::optional<double> min;        // set when TIERD_CONFIG_HAS_MIN
    std::optional<double> max;        // set when TIERD_CONFIG_HAS_MAX
    std::vector<std::string> choices; // ENUM only
    std::string doc;                  // one line; render_key_toml wraps it

    bool secret() const { return (flags & TIERD_CONFIG_SECRET) != 0; }
    bool must_exist() const { return (flags & TIERD_CONFIG_MUST_EXIST) != 0; }
};

// The TOML kind of `node` as errors name it: "boolean", "integer", "float", "string",
// "array", "table", "date", "time", "date-time".
std::string toml_type_name(const toml::node &node);

// What a key of this type expects, as errors say it: "a boolean", "an integer", "a number"
// (DOUBLE takes integers too), "a string" (STRING, ENUM, PATH), "an array of strings".
std::string expected_type_text(const ConfigKey &key);

// "expected <expected_type_text>, got <toml_type_name>": the one wrong-type message of
// core and plugin keys alike. Never quotes the value.
std::string wrong_type_message(const ConfigKey &key, const toml::node &node);

// `node` as a value of scalar type `type`; nullopt when its TOML type does not fit.
// DOUBLE accepts a TOML integer (an operator writes 4 and means 4.0).
std::optional<ConfigValue> scalar_value(const toml::node &node, tierd_config_type type);

// Shortest text that reads back as the same double ("0.25", "1e+300", "4").
std::string format_number(double value);

// `value` as a TOML literal: true, 42, 0.5 (a float always shows a '.', 'e' or "inf"),
// "quoted \"string\"", ["a", "b"].
std::string toml_literal(const ConfigValue &value);

// The key as it appears in a commented default file: its doc (wrapped), notes for
// choices, range, MUST_EXIST and SECRET, then `name = <default>`.
std::string render_key_toml(const ConfigKey &key);

// `text` as "# " comment lines of at most 92 columns (words are never split).
std::string comment_lines(std::string_view text);

// " (did you mean 'x'?)" for the name in `known` closest to `name`, or "" when none is
// close enough.
std::string did_you_mean(std::string_view name, const std::vector<std::string_view> &known);

// True when `path` names a regular file this process may read.
bool readable_file(const std::string &path);

} // namespace tierd
