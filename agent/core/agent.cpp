#include "agent/core/agent.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

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
    uv_signal_init(&loop_, &sigterm_);
    sigterm_.data = this;
    uv_signal_start(&sigterm_, &Agent::on_signal, SIGTERM);
    uv_signal_init(&loop_, &sigint_);
    sigint_.data = this;
    uv_signal_start(&sigint_, &Agent::on_signal, SIGINT);

    mqtt_->start();
    spdlog::info("tierd {} running as {} ({})", options_.identity.device_id,
                 options_.identity.role, "libuv loop");
    sd_notify(0, "READY=1\nSTATUS=running");
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return 0;
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
    mqtt_->stop([] {});
}

} // namespace tierd
