// What the running agent takes from a validated Config.
#pragma once

#include "agent/config/config.hpp"
#include "agent/core/mqtt_link.hpp"
#include "agent/core/status.hpp"
#include "hal/hal.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tierd {

struct AgentOptions {
    DeviceIdentity identity;
    MqttLinkOptions mqtt;
    std::vector<std::string> groups; // command topics tierd/v1/group/<g>/cmd
    hal::HalOptions hal;
    uint64_t telemetry_interval_ms = 10000;
    // The config as the get-config command shows it, secrets already redacted.
    nlohmann::json config_view;
};

// HAL options with the profile search path completed: the config's own directories,
// then the installed profiles, then the source tree's (for runs from the build tree).
hal::HalOptions derive_hal_options(const Config &config);

// Resolves defaults that depend on the machine (device id "" = the hostname).
AgentOptions derive_agent_options(const Config &config);

// True when the two need a new MQTT session (broker, credentials, identity, topics).
bool needs_new_mqtt_session(const AgentOptions &a, const AgentOptions &b);

bool same_hal_options(const hal::HalOptions &a, const hal::HalOptions &b);

} // namespace tierd
