// The core configuration's keys, declared once, in the typed form plugins declare theirs
// (config_key.hpp). Everything else is derived from this table: validation
// (config_loader.cpp), the get-config JSON view and the secret list (config_json.cpp),
// and the commented default file config/tierd.toml (core_config_toml.cpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.hpp"
#include "agent/config/config_key.hpp"

namespace tierd {

// A check of a string value beyond its type (or of each element of a list key): "" when
// the value is fine, else the whole message ("invalid value 'x', expected [a-z0-9_-]+").
// Never called for secret keys.
using ValueRule = std::string (*)(const std::string &value);

struct CoreConfigKey {
    // Name, type, range or choices, flags, doc. `default_value` is what a default-built
    // Config holds (read through `load`): config.hpp's initializers stay the one place
    // defaults are written.
    ConfigKey key;
    ValueRule rule = nullptr;
    // Where the value lands in Config. `store` is given a value that passed every check of
    // the key; `load` reads the field back as the key's type (enums by name).
    void (*store)(Config &config, const ConfigValue &value) = nullptr;
    ConfigValue (*load)(const Config &config) = nullptr;
};

struct CoreConfigSection {
    std::string name;
    std::string doc; // the comment above the section in config/tierd.toml; "" = none
    std::vector<CoreConfigKey> keys;

    // The key named `name`, or nullptr.
    const CoreConfigKey *find(std::string_view name) const;
};

// Every core section in the order config/tierd.toml shows them. Built on first use;
// read-only afterwards, so any thread may read it.
const std::vector<CoreConfigSection> &core_config_sections();

// The top-level key under which [plugin.<name>] tables live. Not declared here: each
// plugin declares its own keys, and the plugin host checks the tables against them.
inline constexpr std::string_view kPluginTablesKey = "plugin";

} // namespace tierd
