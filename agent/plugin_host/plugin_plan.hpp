// From a Config to the plugins it asks for: which file each configured plugin is, whether
// it loads and is of the kind its [plugins] slot needs, and its [plugin.<name>] table
// validated against the keys it declares. Used by --check-config, by the agent at start-up
// and on every config change, and by the plugins.load command.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tierd/plugin.h>

#include "agent/config/config.hpp"
#include "agent/config/config_error.hpp"
#include "agent/plugin_host/plugin_config_values.hpp"
#include "agent/plugin_host/plugin_library.hpp"

namespace tierd {

// A place for one plugin of a kind: the [plugins] keys "scheduler", "preclassifier",
// "inference", "fusion", and "source", which the [source] table's `kind` fills.
struct PluginSlot {
    const char *key;
    tierd_plugin_kind kind;
    const char *config_key; // where the config names it: "plugins.inference", "source.kind"
};
// The five slots, in pipeline order: source, scheduler, preclassifier, inference, fusion.
const std::vector<PluginSlot> &plugin_slots();
// The slot for `kind`.
const PluginSlot &slot_for(tierd_plugin_kind kind);
// The plugin `config` names for `kind` ("" = none).
std::string configured_plugin(const Config &config, tierd_plugin_kind kind);
// Names `name` ("" = none) for `kind` in `config`, as plugins.load/unload do; false for a
// source, which only the [source] table picks.
bool set_configured_plugin(Config &config, tierd_plugin_kind kind, const std::string &name);

// The directories searched for `<name>.so`: plugins.search_path when set; otherwise the
// build tree's plugin directory when this tierd runs from its build tree, else the
// installed one (${libdir}/tierd/plugins).
std::vector<std::string> plugin_search_path(const PluginsConfig &plugins);

// A plugin that passed every check and may be instantiated.
struct PreparedPlugin {
    std::shared_ptr<PluginLibrary> library;
    PluginConfigValues values;
};

// A plugin the host will not run, and why ("not found on the search path [...]",
// "ABI ...", "is a fusion plugin, configured as plugins.inference", "create failed: ...").
struct PluginRefusal {
    std::string name;
    std::string slot; // the [plugins] key that named it; "" for plugins.load
    std::string path; // the file, when one was found
    std::string reason;

    // "<path or name>: <reason>"
    std::string to_string() const;
    nlohmann::json to_json() const;
};

struct PluginPlan {
    std::vector<PreparedPlugin> ready;  // configured plugins that may be created, slot order
    std::vector<PluginRefusal> refused; // configured plugins that cannot be loaded
    // Bad keys in [plugin.<name>] tables, with file:line:column where the config still
    // carries source positions (a freshly loaded one does).
    ConfigErrors errors;
    // [plugin.<name>] tables no configured plugin uses and whose plugin cannot be found:
    // they cannot be checked, but they stop nothing (the plugin may be loaded later).
    ConfigErrors warnings;
};

// Opens every configured plugin (dlopen: worker thread) and validates the tables.
PluginPlan plan_plugins(const Config &config);

// One plugin by name, as plugins.load asks: found, opened, and its table validated.
// `kind`, when set, is the kind it must have. Errors in its table land in `errors`.
struct PrepareResult {
    std::optional<PreparedPlugin> plugin;
    std::optional<PluginRefusal> refusal;
    ConfigErrors errors;
};
PrepareResult prepare_plugin(const Config &config, const std::string &name,
                             std::optional<tierd_plugin_kind> kind = std::nullopt);

// `tierd --check-config`: the plan's problems as config errors. A refusal is reported at
// the [plugins] key that names the plugin.
ConfigErrors plan_errors(const Config &config, const PluginPlan &plan);

// The text --print-default-config prints: config/tierd.toml's hand-written part, then the
// [plugin.<name>] section of each default plugin rendered from its own declarations.
std::string default_config_with_plugins();

} // namespace tierd
