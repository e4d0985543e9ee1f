#include "agent/core/status.hpp"

#include "agent/common/untrusted_json.hpp"

#include "tierd_version.h"

#include <nlohmann/json.hpp>

namespace tierd {

std::string wire_json(const nlohmann::json &doc) {
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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

std::optional<PeerStatus> read_peer_status(const std::string &payload) {
    // A status nests 3 levels; 16 leaves room and refuses what could exhaust the stack.
    auto doc = parse_untrusted_json(payload, 16);
    if (!doc.is_object())
        return std::nullopt;
    auto id = doc.find("device_id");
    if (id == doc.end() || !id->is_string())
        return std::nullopt;
    PeerStatus out;
    out.device_id = id->get<std::string>();
    // Comparisons, not get<>(): a field of the wrong type reads as "not so", never throws.
    auto plugins = doc.find("plugins");
    const bool loading = plugins != doc.end() && plugins->is_object() &&
                         plugins->contains("loading") && (*plugins)["loading"] == true;
    auto role = doc.find("role");
    if (doc.contains("state") && doc["state"] == "online" && !loading && role != doc.end() &&
        role->is_string()) {
        out.serving = true;
        out.role = role->get<std::string>();
    }
    return out;
}

} // namespace tierd
