#include "agent/core/agent.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>

namespace tierd {

Agent::Agent(AgentOptions options) : options_(std::move(options)) {
    options_.mqtt.client_id = options_.identity.device_id;
    options_.mqtt.will_topic = device_topic(options_.identity.device_id, "status");
    options_.mqtt.will_payload = status_payload(options_.identity, false);
}

int Agent::run() {
    uv_loop_init(&loop_);
    mqtt_ = std::make_unique<MqttLink>(&loop_, options_.mqtt);
    // Retained status is republished on every (re)connect: the broker may have
    // published our will while we were away.
    mqtt_->on_connected = [this] { publish_status(true); };
    mqtt_->on_message = [this](const MqttLink::Message &m) { on_command(m); };
    // Device, fleet-wide and group command topics (docs/mqtt.md).
    mqtt_->subscribe(device_topic(options_.identity.device_id, "cmd"), 1);
    mqtt_->subscribe("tierd/v1/fleet/cmd", 1);
    for (const auto &group : options_.groups)
        mqtt_->subscribe("tierd/v1/group/" + group + "/cmd", 1);
    // The HAL is built before the loop runs (a missing profile fails start-up clearly)
    // and read only on workers from then on.
    hal_sampler_ = std::make_unique<HalSampler>(
        &loop_, std::make_shared<hal::Hal>(options_.hal), options_.telemetry_interval_ms);
    hal_sampler_->on_sample = [this](const nlohmann::json &sample) { publish_telemetry(sample); };
    register_commands();
    started_ms_ = uv_now(&loop_);
    uv_signal_init(&loop_, &sigterm_);
    sigterm_.data = this;
    uv_signal_start(&sigterm_, &Agent::on_signal, SIGTERM);
    uv_signal_init(&loop_, &sigint_);
    sigint_.data = this;
    uv_signal_start(&sigint_, &Agent::on_signal, SIGINT);

    start_watchdog();
    hal_sampler_->start();
    mqtt_->start();
    spdlog::info("tierd {} running as {} ({})", options_.identity.device_id,
                 options_.identity.role, "libuv loop");
    sd_notify(0, "READY=1\nSTATUS=running");
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return 0;
}

// systemd's watchdog is pinged from a loop timer, so a stuck loop stops the pings and
// systemd restarts the agent.
void Agent::start_watchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    uv_timer_init(&loop_, &watchdog_);
    uint64_t period_ms = std::max<uint64_t>(usec / 2000, 1);
    uv_timer_start(
        &watchdog_, [](uv_timer_t *) { sd_notify(0, "WATCHDOG=1"); }, 0, period_ms);
    watchdog_running_ = true;
}

void Agent::on_signal(uv_signal_t *handle, int signum) {
    auto *self = static_cast<Agent *>(handle->data);
    spdlog::info("received {}, shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    self->shutdown();
}

void Agent::publish_status(bool online) {
    int rc = mqtt_->publish(device_topic(options_.identity.device_id, "status"),
                            status_payload(options_.identity, online), 1, true);
    if (rc != MOSQ_ERR_SUCCESS)
        spdlog::warn("mqtt: status publish failed: {}", mosquitto_strerror(rc));
}

void Agent::register_commands() {
    commands_.add("ping", [](const nlohmann::json &) { return nlohmann::json{{"pong", true}}; });
    commands_.add("status", [this](const nlohmann::json &) {
        auto doc = nlohmann::json::parse(status_payload(options_.identity, true));
        doc["uptime_s"] = static_cast<double>(uv_now(&loop_) - started_ms_) / 1000.0;
        return doc;
    });
    register_config_commands();
    commands_.add("hal", [this](const nlohmann::json &) {
        const auto &latest = hal_sampler_->latest();
        if (latest.is_null())
            throw CommandError{"not_ready", "the first HAL reading has not completed yet"};
        auto result = latest;
        result["age_ms"] = uv_now(&loop_) - latest["sampled_ms"].get<uint64_t>();
        return result;
    });
}

void Agent::publish_telemetry(const nlohmann::json &sample) {
    if (!mqtt_->connected())
        return; // telemetry is periodic and not durable: the next sample follows
    nlohmann::json doc = sample;
    doc["v"] = 1;
    doc["device_id"] = options_.identity.device_id;
    doc["role"] = options_.identity.role;
    doc["uptime_s"] = static_cast<double>(uv_now(&loop_) - started_ms_) / 1000.0;
    mqtt_->publish(device_topic(options_.identity.device_id, "telemetry"), doc.dump(), 0, false);
}

void Agent::register_config_commands() {
    commands_.add("get-config", [this](const nlohmann::json &) { return options_.config_view; });
}

void Agent::on_command(const MqttLink::Message &message) {
    auto reply = commands_.handle(message.payload, options_.identity.device_id);
    // MQTT 5 consoles name a response topic; 3.1.1 consoles read the device's reply topic.
    std::string topic = message.response_topic.empty()
                            ? device_topic(options_.identity.device_id, "reply")
                            : message.response_topic;
    int rc = mqtt_->publish(topic, reply.dump(), 1, false, message.correlation_data);
    if (rc != MOSQ_ERR_SUCCESS)
        spdlog::warn("mqtt: reply to {} failed: {}", topic, mosquitto_strerror(rc));
}

void Agent::shutdown() {
    if (shutting_down_)
        return;
    shutting_down_ = true;
    sd_notify(0, "STOPPING=1");
    // A clean stop says "offline" itself: the broker sends the will only on failure.
    if (mqtt_->connected())
        publish_status(false);
    uv_close(reinterpret_cast<uv_handle_t *>(&sigterm_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t *>(&sigint_), nullptr);
    hal_sampler_->stop();
    if (watchdog_running_)
        uv_close(reinterpret_cast<uv_handle_t *>(&watchdog_), nullptr);
    mqtt_->stop([] {});
}

} // namespace tierd
