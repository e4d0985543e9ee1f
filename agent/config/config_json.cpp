#include "agent/config/config_json.hpp"

#include <sstream>

#include "agent/config/core_config_keys.hpp"

namespace tierd {
namespace {

nlohmann::json table_to_json(const toml::table &t) {
    std::ostringstream ss;
    ss << toml::json_formatter{t};
    return nlohmann::json::parse(ss.str(), nullptr, false);
}

nlohmann::json value_json(const ConfigValue &value) {
    return std::visit([](const auto &v) { return nlohmann::json(v); }, value);
}

} // namespace

nlohmann::json to_json(const Config &c) {
    nlohmann::json j;
    for (const auto &section : core_config_sections()) {
        nlohmann::json &out = j[section.name] = nlohmann::json::object();
        for (const auto &k : section.keys) {
            ConfigValue value = k.load(c);
            const auto *s = std::get_if<std::string>(&value);
            if (k.key.secret() && s != nullptr && !s->empty())
                out[k.key.name] = kRedacted;
            else
                out[k.key.name] = value_json(value);
        }
    }
    nlohmann::json plugin = nlohmann::json::object();
    for (const auto &[name, table] : c.plugin_tables)
        plugin[name] = table_to_json(table);
    j["plugin"] = std::move(plugin);
    return j;
}

std::vector<std::string> secret_values(const Config &c) {
    std::vector<std::string> out;
    for (const auto &section : core_config_sections()) {
        for (const auto &k : section.keys) {
            if (!k.key.secret())
                continue;
            ConfigValue value = k.load(c);
            if (const auto *s = std::get_if<std::string>(&value); s != nullptr && !s->empty())
                out.push_back(*s);
        }
    }
    return out;
}

} // namespace tierd
