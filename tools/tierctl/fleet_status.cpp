#include "tools/tierctl/fleet_status.hpp"

#include "common/topics.hpp"

namespace tierctl {

namespace {

std::string string_field(const nlohmann::json &doc, const char *key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> plugin_names(const nlohmann::json &list) {
    std::vector<std::string> names;
    if (!list.is_array())
        return names;
    for (const auto &entry : list)
        if (entry.is_object() && entry.contains("name") && entry["name"].is_string())
            names.push_back(entry["name"].get<std::string>());
    return names;
}

} // namespace

nlohmann::json DeviceStatus::to_json() const {
    nlohmann::json j = {{"device_id", device_id},
                        {"state", state},
                        {"role", role},
                        {"version", version},
                        {"plugins", {{"loaded", plugins_loaded}, {"refused", plugins_refused}}},
                        {"status", document}};
    j["groups"] = groups ? nlohmann::json(*groups) : nlohmann::json(nullptr);
    if (plugins_loading)
        j["plugins"]["loading"] = true;
    return j;
}

std::optional<std::string> FleetStatus::apply(const std::string &topic,
                                              const std::string &payload) {
    auto parsed = tierd::topics::parse_device_topic(topic);
    if (!parsed || parsed->leaf != tierd::topics::DeviceLeaf::status)
        return std::nullopt;
    std::optional<std::string> id(parsed->device_id);
    if (payload.empty()) {
        devices_.erase(*id);
        return id;
    }
    DeviceStatus status;
    status.device_id = *id; // the topic names the device even if the document is bad
    status.state = "?";
    status.document = nlohmann::json::parse(payload, nullptr, false);
    if (status.document.is_discarded())
        status.document = nullptr;
    if (status.document.is_object()) {
        const auto &doc = status.document;
        if (auto state = string_field(doc, "state"); !state.empty())
            status.state = state;
        status.role = string_field(doc, "role");
        status.version = string_field(doc, "version");
        if (auto groups = doc.find("groups"); groups != doc.end() && groups->is_array()) {
            status.groups.emplace();
            for (const auto &g : *groups)
                if (g.is_string())
                    status.groups->push_back(g.get<std::string>());
        }
        if (auto plugins = doc.find("plugins"); plugins != doc.end() && plugins->is_object()) {
            status.plugins_loaded = plugin_names(plugins->value("loaded", nlohmann::json()));
            status.plugins_refused = plugin_names(plugins->value("refused", nlohmann::json()));
            auto loading = plugins->find("loading");
            status.plugins_loading =
                loading != plugins->end() && loading->is_boolean() && loading->get<bool>();
        }
    }
    devices_[*id] = std::move(status);
    return id;
}

const DeviceStatus *FleetStatus::find(const std::string &device_id) const {
    auto it = devices_.find(device_id);
    return it == devices_.end() ? nullptr : &it->second;
}

} // namespace tierctl
