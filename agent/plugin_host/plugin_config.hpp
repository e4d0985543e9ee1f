// A plugin's [plugin.<name>] table checked against the keys the plugin declared, and
// the same declarations rendered as a commented default table (--print-default-config).
#pragma once

#include <optional>
#include <string>

#include <toml++/toml.h>

#include "agent/config/config_error.hpp"
#include "agent/plugin_host/plugin_config_values.hpp"
#include "agent/plugin_host/plugin_library.hpp"

namespace tierd {

// Either every key resolved (errors empty) or every problem found (values empty).
struct PluginConfigResult {
    std::optional<PluginConfigValues> values;
    ConfigErrors errors;

    bool ok() const { return values.has_value(); }
};

// Validates `table` (nullptr: the plugin has no table, so all defaults) against
// `plugin.config_keys`: unknown keys, wrong types, min/max, enum choices, MUST_EXIST
// paths (file values and non-empty defaults alike). Errors carry the node's file, line
// and column (`source_file` for nodes that have no source path) and the key path
// "plugin.<name>.<key>"; they never quote a secret key's value.
// `inherited`: keys that come from another table (a source plugin's `path` and `labels`
// from [source]), taken when the plugin declares them and `table` does not set them;
// their errors are reported under `inherited_prefix` ("source.") at their own position.
struct InheritedKey {
    std::string name;
    const toml::node *node;
};
PluginConfigResult validate_plugin_config(const PluginDescriptor &plugin, const toml::table *table,
                                          const std::string &source_file,
                                          const std::vector<InheritedKey> &inherited = {},
                                          const std::string &inherited_prefix = {});

// "[plugin.<name>]" with every declared key at its default, each preceded by its doc
// line and a "# choices: a|b" / "# range: [min, max]" note; secret keys are marked.
// Parses back as TOML that validate_plugin_config accepts (given MUST_EXIST files).
std::string render_default_toml(const PluginDescriptor &plugin);

} // namespace tierd
