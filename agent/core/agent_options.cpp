#include "agent/core/agent_options.hpp"
#include "common/topics.hpp"

#include "agent/config/config_json.hpp"

#include <unistd.h>

namespace tierd {

namespace {
std::string hostname_or_default() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
        return "tierd";
    return buf;
}
} // namespace

hal::HalOptions derive_hal_options(const Config &config) {
    hal::HalOptions options;
    options.root = config.hal.root;
    options.profile = config.hal.profile;
    for (const auto &dir : config.hal.profile_dirs)
        options.profile_dirs.emplace_back(dir);
    options.profile_dirs.emplace_back(TIERD_INSTALL_PROFILE_DIR);
    options.profile_dirs.emplace_back(TIERD_SOURCE_PROFILE_DIR);
    return options;
}

AgentOptions derive_agent_options(const Config &config) {
    AgentOptions options;
    options.identity.device_id =
        config.agent.device_id.empty() ? hostname_or_default() : config.agent.device_id;
    options.identity.role = std::string(to_string(config.agent.role));
    options.mqtt.host = config.mqtt.host;
    options.mqtt.port = config.mqtt.port;
    options.mqtt.keepalive_s = config.mqtt.keepalive_s;
    options.mqtt.reconnect_min_ms = static_cast<int>(config.mqtt.reconnect_min_ms);
    options.mqtt.reconnect_max_ms = static_cast<int>(config.mqtt.reconnect_max_ms);
    options.mqtt.tcp_user_timeout_ms = static_cast<int>(config.mqtt.tcp_user_timeout_ms);
    options.mqtt.failure_reminder_ms = static_cast<int>(config.mqtt.failure_reminder_s * 1000);
    options.mqtt.username = config.mqtt.username;
    options.mqtt.password = config.mqtt.password;
    options.mqtt.tls_ca_file = config.mqtt.tls_ca_file;
    options.mqtt.tls_cert_file = config.mqtt.tls_cert_file;
    options.mqtt.tls_key_file = config.mqtt.tls_key_file;
    options.mqtt.client_id = options.identity.device_id;
    options.mqtt.will_topic =
        topics::device_topic(options.identity.device_id, topics::DeviceLeaf::status);
    options.groups = config.agent.groups;
    options.identity.groups = config.agent.groups;
    options.mqtt.will_payload = status_payload(options.identity, false);
    options.hal = derive_hal_options(config);
    options.telemetry_interval_ms = static_cast<uint64_t>(config.telemetry.interval_ms);
    options.config_view = to_json(config);
    return options;
}

bool needs_new_mqtt_session(const AgentOptions &a, const AgentOptions &b) {
    const auto &x = a.mqtt, &y = b.mqtt;
    return x.host != y.host || x.port != y.port || x.keepalive_s != y.keepalive_s ||
           x.username != y.username || x.password != y.password || x.tls_ca_file != y.tls_ca_file ||
           x.tls_cert_file != y.tls_cert_file || x.tls_key_file != y.tls_key_file ||
           x.reconnect_min_ms != y.reconnect_min_ms || x.reconnect_max_ms != y.reconnect_max_ms ||
           x.failure_reminder_ms != y.failure_reminder_ms ||
           x.tcp_user_timeout_ms != y.tcp_user_timeout_ms ||
           a.identity.device_id != b.identity.device_id || a.identity.role != b.identity.role ||
           a.groups != b.groups;
}

bool same_hal_options(const hal::HalOptions &a, const hal::HalOptions &b) {
    return a.root == b.root && a.profile == b.profile && a.profile_dirs == b.profile_dirs &&
           a.nvml_library == b.nvml_library;
}

} // namespace tierd
