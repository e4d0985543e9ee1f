// The fleet as its retained status documents describe it (docs/mqtt.md, "Status
// document"): who exists, in which state, role and version, with which plugins.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tierctl {

struct DeviceStatus {
    std::string device_id;
    std::string state; // "online", "offline", or "?" when the document does not say
    std::string role;
    std::string version;
    // Group memberships, when the document carries them (the v1 status does not: then
    // tierctl learns them with get-config, see fleet_console.hpp).
    std::optional<std::vector<std::string>> groups;
    std::vector<std::string> plugins_loaded;
    std::vector<std::string> plugins_refused;
    bool plugins_loading = false;
    nlohmann::json document; // as received; null when the payload was not JSON

    bool online() const { return state == "online"; }
    nlohmann::json to_json() const;
};

class FleetStatus {
  public:
    // Takes one message from the status wildcard (topics::kEveryStatusFilter); messages on
    // other topics are not taken (nullopt). An empty payload clears the device
    // (a deleted retained message). Returns the device id it concerned, if any.
    std::optional<std::string> apply(const std::string &topic, const std::string &payload);

    const std::map<std::string, DeviceStatus> &devices() const { return devices_; }
    const DeviceStatus *find(const std::string &device_id) const;

  private:
    std::map<std::string, DeviceStatus> devices_;
};

} // namespace tierctl
