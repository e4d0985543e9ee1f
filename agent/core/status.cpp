#include "agent/core/status.hpp"

#include "tierd_version.h"

#include <nlohmann/json.hpp>

namespace tierd {

std::string wire_json(const nlohmann::json &doc) {
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string device_topic(const std::string &device_id, const std::string &leaf) {
    return "tierd/v1/dev/" + device_id + "/" + leaf;
}

std::string status_payload(const DeviceIdentity &identity, bool online,
                           const nlohmann::json &plugins) {
    nlohmann::json doc = {{"v", 1},
                          {"state", online ? "online" : "offline"},
                          {"device_id", identity.device_id},
                          {"role", identity.role},
                          {"version", TIERD_VERSION_STRING},
                          {"groups", identity.groups}};
    if (!plugins.is_null())
        doc["plugins"] = plugins;
    return wire_json(doc);
}

} // namespace tierd
