// The host's own copy of a plugin's config map (tierd_config_key entries), checked once
// at load time so that a broken declaration is the plugin's load error, not a confusing
// config error later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tierd/plugin.h>

#include "agent/config/config_key.hpp"

namespace tierd {

// A resolved value. INT keys hold int64_t, DOUBLE keys double, BOOL keys bool; STRING,
// ENUM and PATH keys hold std::string (plugin keys are never lists).
using PluginConfigValue = ConfigValue;

// One declared key, with its strings copied out of the plugin (which may be unloaded
// before the declarations are last used, e.g. by --print-default-config). The same
// ConfigKey the core declares its own keys with (agent/config/core_config_keys.hpp).
using PluginConfigKey = ConfigKey;

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

// "boolean", "integer", "float", "string", "enum", "path": the declared type, in the words
// errors use for TOML values (toml_type_name).
const char *config_type_name(tierd_config_type type);

// Range and choice checks shared by defaults and file values; nullopt when `value`
// passes, else what is wrong. Never quotes the value of a secret key.
std::optional<std::string> check_value(const PluginConfigKey &key, const PluginConfigValue &value);

} // namespace tierd
