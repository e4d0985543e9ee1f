#include "agent/plugin_host/plugin_config.hpp"

#include <algorithm>

namespace tierd {
namespace {

class ErrorSink {
  public:
    ErrorSink(std::string fallback_file, std::string prefix, ConfigErrors &errors)
        : fallback_(std::move(fallback_file)), prefix_(std::move(prefix)), errors_(errors) {}

    void add(const toml::source_region *where, const std::string &key, std::string message) {
        errors_.push_back(config_error_at(where, fallback_, prefix_ + key, std::move(message)));
    }

  private:
    std::string fallback_;
    std::string prefix_;
    ConfigErrors &errors_;
};

std::string accepted_keys(const PluginDescriptor &plugin) {
    if (plugin.config_keys.empty())
        return "this plugin takes no settings";
    std::string out = "accepted keys: ";
    for (std::size_t i = 0; i < plugin.config_keys.size(); ++i) {
        if (i > 0)
            out += ", ";
        out += plugin.config_keys[i].name;
    }
    return out;
}

} // namespace

PluginConfigResult validate_plugin_config(const PluginDescriptor &plugin, const toml::table *table,
                                          const std::string &source_file,
                                          const std::vector<InheritedKey> &inherited,
                                          const std::string &inherited_prefix) {
    PluginConfigResult r;
    PluginConfigValues values = default_config_values(plugin.name, plugin.config_keys);
    ErrorSink sink(source_file, "plugin." + plugin.name + ".", r.errors);
    ErrorSink inherited_sink(source_file, inherited_prefix, r.errors);

    auto find_key = [&](std::string_view name) -> const PluginConfigKey * {
        auto it = std::find_if(plugin.config_keys.begin(), plugin.config_keys.end(),
                               [&](const PluginConfigKey &k) { return k.name == name; });
        return it == plugin.config_keys.end() ? nullptr : &*it;
    };

    if (table != nullptr) {
        for (const auto &[k, node] : *table) {
            const std::string name(k.str());
            const PluginConfigKey *key = find_key(name);
            if (key == nullptr) {
                sink.add(&k.source(), name, "unknown key; " + accepted_keys(plugin));
                continue;
            }
            auto value = scalar_value(node, key->type);
            if (!value) {
                sink.add(&node.source(), name, wrong_type_message(*key, node));
                continue;
            }
            if (auto problem = check_value(*key, *value)) {
                sink.add(&node.source(), name, *problem);
                continue;
            }
            if (key->must_exist()) {
                const auto &path = std::get<std::string>(*value);
                if (!path.empty() && !readable_file(path)) {
                    sink.add(&node.source(), name,
                             "no readable file" + (key->secret() ? "" : " at \"" + path + "\""));
                    continue;
                }
            }
            auto &entry = values.entries[name];
            entry.value = std::move(*value);
            entry.from_default = false;
        }
    }

    // Keys from another table, where the plugin's own does not set them.
    for (const auto &[name, node] : inherited) {
        const PluginConfigKey *key = find_key(name);
        if (key == nullptr || node == nullptr || (table != nullptr && table->contains(name)))
            continue;
        auto value = scalar_value(*node, key->type);
        if (!value) {
            inherited_sink.add(&node->source(), name, wrong_type_message(*key, *node));
            continue;
        }
        if (auto problem = check_value(*key, *value)) {
            inherited_sink.add(&node->source(), name, *problem);
            continue;
        }
        auto &entry = values.entries[name];
        entry.value = std::move(*value);
        entry.from_default = false;
    }

    // A non-empty default path is as binding as one from the file.
    for (const auto &key : plugin.config_keys) {
        const auto &entry = values.entries[key.name];
        if (!key.must_exist() || !entry.from_default)
            continue;
        const auto &path = std::get<std::string>(entry.value);
        if (!path.empty() && !readable_file(path))
            sink.add(nullptr, key.name,
                     "no readable file at the default" +
                         (key.secret() ? std::string() : " \"" + path + "\"") +
                         "; set the key to an existing file");
    }

    if (r.errors.empty())
        r.values = std::move(values);
    return r;
}

std::string render_default_toml(const PluginDescriptor &plugin) {
    std::string out = "# " + plugin.name;
    if (!plugin.version.empty())
        out += " " + plugin.version;
    if (!plugin.description.empty())
        out += ": " + plugin.description;
    out += "\n[plugin." + plugin.name + "]\n";
    if (plugin.config_keys.empty())
        out += "# (this plugin takes no settings)\n";
    for (std::size_t i = 0; i < plugin.config_keys.size(); ++i)
        out += (i > 0 ? "\n" : "") + render_key_toml(plugin.config_keys[i]);
    return out;
}

} // namespace tierd
