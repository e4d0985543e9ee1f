#include "agent/plugin_host/plugin_config_values.hpp"

const tierd_config::Entry *tierd_config::find(std::string_view key) const {
    auto it = entries.find(key);
    return it == entries.end() ? nullptr : &it->second;
}

nlohmann::json tierd_config::redacted_json() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto &[key, entry] : entries) {
        if (entry.secret) {
            out[key] = "<redacted>";
            continue;
        }
        std::visit([&, &k = key](const auto &v) { out[k] = v; }, entry.value);
    }
    return out;
}

bool tierd_config::operator==(const tierd_config &other) const {
    if (plugin_name != other.plugin_name || entries.size() != other.entries.size())
        return false;
    for (const auto &[key, entry] : entries) {
        const Entry *o = other.find(key);
        if (o == nullptr || o->type != entry.type || o->value != entry.value)
            return false;
    }
    return true;
}

namespace tierd {

PluginConfigValues default_config_values(const std::string &plugin_name,
                                         const std::vector<PluginConfigKey> &keys) {
    PluginConfigValues values;
    values.plugin_name = plugin_name;
    for (const auto &key : keys)
        values.entries[key.name] = {key.type, key.secret(), true, key.default_value};
    return values;
}

} // namespace tierd
