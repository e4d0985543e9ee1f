// The agent's MQTT 5 connection, driven entirely by the libuv loop: the client socket
// is watched with uv_poll and mosquitto_loop_misc runs on a loop timer, so there is
// no hidden client thread. Reconnects with exponential backoff and jitter.
#pragma once

#include <mosquitto.h>
#include <uv.h>

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tierd {

struct MqttLinkOptions {
    std::string host = "127.0.0.1";
    int port = 1883;
    std::string client_id;
    int keepalive_s = 30;
    int reconnect_min_ms = 500;
    int reconnect_max_ms = 30000;
    // Credentials and TLS; empty = not used. The password is never logged.
    std::string username;
    std::string password;
    std::string tls_ca_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    // Last will: published by the broker if this client vanishes without a clean
    // disconnect.
    std::string will_topic;
    std::string will_payload;
};

class MqttLink {
  public:
    // Throws std::runtime_error when libmosquitto refuses the credentials or TLS files.
    MqttLink(uv_loop_t *loop, MqttLinkOptions options);
    ~MqttLink();
    MqttLink(const MqttLink &) = delete;
    MqttLink &operator=(const MqttLink &) = delete;

    // Called on the loop thread each time a session is (re)established.
    std::function<void()> on_connected;
    // Called on the loop thread once the broker has acknowledged every subscription sent
    // for a new session (retained messages for them follow right behind).
    std::function<void()> on_subscribed;

    // An incoming message with the MQTT 5 properties a command needs.
    struct Message {
        std::string topic;
        std::string payload;
        std::string response_topic;   // "" when the sender set none
        std::string correlation_data; // binary, "" when none
    };
    // Called on the loop thread for every message on a subscribed topic.
    std::function<void(const Message &)> on_message;
    // Called on the loop thread when the broker acknowledges a QoS 1/2 publish (`mid`
    // from publish()), with its MQTT 5 reason code (>= 0x80: refused).
    std::function<void(int mid, int reason)> on_published;

    // Subscriptions are remembered and renewed on every (re)connect.
    void subscribe(const std::string &topic_filter, int qos);

    void start();
    // Publish on the loop thread; returns a MOSQ_ERR_* code (queued while offline is
    // not supported by libmosquitto: callers republish on_connected).
    // `mid`, when given, receives the message id that on_published reports.
    int publish(const std::string &topic, const std::string &payload, int qos, bool retain,
                const std::string &correlation_data = {}, const std::string &response_topic = {},
                int *mid = nullptr);
    // Clean disconnect (no will); `done` runs on the loop once handles are closed.
    void stop(std::function<void()> done);
    bool connected() const { return connected_; }

  private:
    static void on_connect_cb(mosquitto *, void *self, int rc, int flags,
                              const mosquitto_property *props);
    static void on_disconnect_cb(mosquitto *, void *self, int rc, const mosquitto_property *props);
    static void on_subscribe_cb(mosquitto *, void *self, int mid, int qos_count,
                                const int *granted_qos, const mosquitto_property *props);
    static void on_message_cb(mosquitto *, void *self, const mosquitto_message *message,
                              const mosquitto_property *props);
    static void on_publish_cb(mosquitto *, void *self, int mid, int reason,
                              const mosquitto_property *props);
    static void on_poll_cb(uv_poll_t *handle, int status, int events);
    static void on_tick_cb(uv_timer_t *handle);
    static void on_retry_cb(uv_timer_t *handle);
    static void on_handle_closed(uv_handle_t *handle);

    [[noreturn]] void fail_construction(const std::string &why);
    void try_connect();
    void watch_socket();
    void unwatch_socket();
    void schedule_retry();
    void update_poll_events();

    uv_loop_t *loop_;
    MqttLinkOptions options_;
    mosquitto *mosq_ = nullptr;
    uv_poll_t poll_{};
    bool polling_ = false;
    int polled_fd_ = -1;
    uv_timer_t tick_{};
    uv_timer_t retry_{};
    int backoff_ms_ = 0;
    bool connected_ = false;
    bool refused_ = false; // the broker's CONNACK refused this attempt (already logged)
    bool stopping_ = false;
    int open_handles_ = 0;
    std::function<void()> stop_done_;
    std::vector<std::pair<std::string, int>> subscriptions_;
    std::set<int> unacked_subscriptions_; // message ids sent at (re)connect
};

} // namespace tierd
