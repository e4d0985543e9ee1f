// The concrete type behind the ABI's opaque `struct tierd_config`: a plugin's table after
// validation, every declared key present (the file's value or the declared default).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <tierd/plugin.h>

#include "agent/plugin_host/plugin_config_key.hpp"

// Defined in the global namespace: it completes the C header's incomplete type, so a
// `const tierd_config *` handed to a plugin is simply a pointer to this.
struct tierd_config {
    struct Entry {
        tierd_config_type type = TIERD_CONFIG_STRING;
        bool secret = false;
        bool from_default = true; // false when the file set it
        tierd::PluginConfigValue value;
    };

    std::string plugin_name;
    std::map<std::string, Entry, std::less<>> entries;

    // The entry for `key`, or nullptr when the plugin did not declare it.
    const Entry *find(std::string_view key) const;

    // {"key": value, ...} with secret values shown as "<redacted>" (status, logs).
    nlohmann::json redacted_json() const;

    // Equal values (used to tell whether a reload changes anything).
    bool operator==(const tierd_config &other) const;
};

namespace tierd {

using PluginConfigValues = ::tierd_config;

// The values a plugin gets when its table is absent: every key at its default.
PluginConfigValues default_config_values(const std::string &plugin_name,
                                         const std::vector<PluginConfigKey> &keys);

} // namespace tierd
