// The host's own copy of a plugin's config map (tierd_config_key entries), checked once
// at load time so that a broken declaration is the plugin's load error, not a confusing
// config error later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <tierd/plugin.h>

namespace tierd {

// A resolved value. INT keys hold int64_t, DOUBLE keys double, BOOL keys bool; STRING,
// ENUM and PATH keys hold std::string.
using PluginConfigValue = std::variant<bool, std::int64_t, double, std::string>;

// One declared key, with its strings copied out of the plugin (which may be unloaded
// before the declarations are last used, e.g. by --print-default-config).
struct PluginConfigKey {
    std::string name;
    tierd_config_type type = TIERD_CONFIG_STRING;
    std::uint32_t flags = 0;
    PluginConfigValue default_value;  // parsed from the declaration's text
    std::optional<double> min;        // set when TIERD_CONFIG_HAS_MIN
    std::optional<double> max;        // set when TIERD_CONFIG_HAS_MAX
    std::vector<std::string> choices; // ENUM only
    std::string doc;

    bool secret() const { return (flags & TIERD_CONFIG_SECRET) != 0; }
    bool must_exist() const { return (flags & TIERD_CONFIG_MUST_EXIST) != 0; }
};

// Reads `count` declarations laid out `stride` bytes apart (config_key_size), each read
// only as far as its own struct_size reaches, and checks them: name syntax, known type,
// flags that fit the type, ENUM choices, a default that parses and passes its own range
// and choices, no duplicates. Returns the keys, or a message naming the offending key.
struct ConfigKeysResult {
    std::vector<PluginConfigKey> keys;
    std::string error; // empty on success
};
ConfigKeysResult copy_config_keys(const tierd_config_key *keys, std::uint32_t count,
                                  std::uint32_t stride);

// "bool", "integer", "float", "string", "enum", "path".
const char *config_type_name(tierd_config_type type);

// Range and choice checks shared by defaults and file values; nullopt when `value`
// passes, else what is wrong. Never quotes the value of a secret key.
std::optional<std::string> check_value(const PluginConfigKey &key, const PluginConfigValue &value);

// Shortest text that reads back as the same double ("0.25", "1e+300", "4").
std::string format_number(double value);

} // namespace tierd
