#include "agent/plugin_host/plugin_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace tierd {
namespace {

std::string node_type_name(const toml::node &n) {
    switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "bool";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: return "nothing";
    }
    return "unknown";
}

// The node's value as `key.type` wants it; nullopt when the TOML type is wrong.
std::optional<PluginConfigValue> convert(const toml::node &node, const PluginConfigKey &key) {
    switch (key.type) {
    case TIERD_CONFIG_BOOL:
        if (auto v = node.value_exact<bool>())
            return PluginConfigValue(*v);
        return std::nullopt;
    case TIERD_CONFIG_INT:
        if (auto v = node.value_exact<std::int64_t>())
            return PluginConfigValue(*v);
        return std::nullopt;
    case TIERD_CONFIG_DOUBLE:
        // TOML writes 4 and 4.0 differently; an operator means the same number.
        if (auto v = node.value_exact<double>())
            return PluginConfigValue(*v);
        if (auto v = node.value_exact<std::int64_t>())
            return PluginConfigValue(static_cast<double>(*v));
        return std::nullopt;
    case TIERD_CONFIG_STRING:
    case TIERD_CONFIG_ENUM:
    case TIERD_CONFIG_PATH:
        if (auto v = node.value_exact<std::string>())
            return PluginConfigValue(std::move(*v));
        return std::nullopt;
    }
    return std::nullopt;
}

std::string expected_text(const PluginConfigKey &key) {
    switch (key.type) {
    case TIERD_CONFIG_BOOL: return "a bool (true or false)";
    case TIERD_CONFIG_INT: return "an integer";
    case TIERD_CONFIG_DOUBLE: return "a number";
    case TIERD_CONFIG_STRING: return "a string";
    case TIERD_CONFIG_ENUM: return "a string";
    case TIERD_CONFIG_PATH: return "a string (a file path)";
    }
    return "a value";
}

bool readable_file(const std::string &path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), R_OK) == 0;
}

class ErrorSink {
  public:
    ErrorSink(std::string fallback_file, std::string prefix, ConfigErrors &errors)
        : fallback_(std::move(fallback_file)), prefix_(std::move(prefix)), errors_(errors) {}

    void add(const toml::source_region *where, const std::string &key, std::string message) {
        ConfigError e;
        e.file = fallback_;
        e.key_path = prefix_ + key;
        e.message = std::move(message);
        if (where != nullptr) {
            if (where->path && !where->path->empty())
                e.file = *where->path;
            // --set and change sources are one-liners we synthesize: their positions
            // mean nothing to an operator (as in the agent's own config validation).
            if (e.file.rfind("--set ", 0) != 0 && e.file.rfind("change ", 0) != 0) {
                e.line = static_cast<int>(where->begin.line);
                e.column = static_cast<int>(where->begin.column);
            }
        }
        errors_.push_back(std::move(e));
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

std::string toml_string(const std::string &s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                static const char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + "\"";
}

std::string toml_value(const PluginConfigKey &key, const PluginConfigValue &value) {
    if (const auto *b = std::get_if<bool>(&value))
        return *b ? "true" : "false";
    if (const auto *i = std::get_if<std::int64_t>(&value))
        return std::to_string(*i);
    if (const auto *d = std::get_if<double>(&value)) {
        std::string text = format_number(*d);
        // Keep it a TOML float ("4" would read back as an integer).
        if (text.find_first_of(".ein") == std::string::npos)
            text += ".0";
        return text;
    }
    (void)key;
    return toml_string(std::get<std::string>(value));
}

std::string range_note(const PluginConfigKey &key) {
    if (key.min && key.max)
        return "# range: [" + format_number(*key.min) + ", " + format_number(*key.max) + "]\n";
    if (key.min)
        return "# range: >= " + format_number(*key.min) + "\n";
    if (key.max)
        return "# range: <= " + format_number(*key.max) + "\n";
    return "";
}

} // namespace

PluginConfigResult validate_plugin_config(const PluginDescriptor &plugin, const toml::table *table,
                                          const std::string &source_file) {
    PluginConfigResult r;
    PluginConfigValues values = default_config_values(plugin.name, plugin.config_keys);
    ErrorSink sink(source_file, "plugin." + plugin.name + ".", r.errors);

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
            auto value = convert(node, *key);
            if (!value) {
                sink.add(&node.source(), name,
                         "expected " + expected_text(*key) + ", got " + node_type_name(node));
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
    for (std::size_t i = 0; i < plugin.config_keys.size(); ++i) {
        const PluginConfigKey &key = plugin.config_keys[i];
        if (i > 0)
            out += '\n';
        if (!key.doc.empty())
            out += "# " + key.doc + "\n";
        if (key.type == TIERD_CONFIG_ENUM) {
            out += "# choices: ";
            for (std::size_t c = 0; c < key.choices.size(); ++c)
                out += (c > 0 ? "|" : "") + key.choices[c];
            out += '\n';
        }
        out += range_note(key);
        if (key.must_exist())
            out += "# must name a readable file (\"\" = unset)\n";
        if (key.secret())
            out += "# secret: never logged or shown in status\n";
        out += key.name + " = " + toml_value(key, key.default_value) + "\n";
    }
    return out;
}

} // namespace tierd
