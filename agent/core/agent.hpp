// The running agent: one libuv loop that owns all state, its MQTT link and its
// signal handling. Everything here runs on the loop thread.
#pragma once

#include "agent/core/commands.hpp"
#include "agent/core/hal_sampler.hpp"
#include "agent/core/mqtt_link.hpp"
#include "agent/core/status.hpp"

#include <uv.h>

#include <memory>

namespace tierd {

struct AgentOptions {
    DeviceIdentity identity;
    MqttLinkOptions mqtt;
    std::vector<std::string> groups; // command topics tierd/v1/group/<g>/cmd
    hal::HalOptions hal;
    uint64_t telemetry_interval_ms = 10000;
    // The running config as the get-config command shows it, secrets already redacted.
    nlohmann::json config_view;
};

class Agent {
  public:
    explicit Agent(AgentOptions options);
    // Runs the loop until SIGTERM/SIGINT; returns the process exit code.
    int run();

  private:
    static void on_signal(uv_signal_t *handle, int signum);
    void start_watchdog();
    void publish_status(bool online);
    void register_commands();
    void register_config_commands();
    void on_command(const MqttLink::Message &message);
    void publish_telemetry(const nlohmann::json &sample);
    void shutdown();

    AgentOptions options_;
    uv_loop_t loop_{};
    std::unique_ptr<MqttLink> mqtt_;
    std::unique_ptr<HalSampler> hal_sampler_;
    uv_signal_t sigterm_{};
    uv_signal_t sigint_{};
    uv_timer_t watchdog_{};
    bool watchdog_running_ = false;
    bool shutting_down_ = false;
    CommandTable commands_;
    uint64_t started_ms_ = 0;
};

} // namespace tierd
