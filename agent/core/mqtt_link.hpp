// The agent's MQTT 5 connection, driven by the libuv loop: the client socket is watched
// with uv_poll and mosquitto_loop_misc runs on a loop timer, so no client thread runs the
// session. Reconnects with exponential backoff and jitter.
//
// The one exception is the connect call itself. mosquitto_connect_async resolves the
// broker's name with a blocking getaddrinfo (a resolver that does not answer holds it for
// its whole timeout) and loads the TLS CA, certificate and key files; so each attempt runs
// on a short-lived connector thread, while the loop does not touch the libmosquitto handle
// at all (publish() holds QoS 1/2 messages meanwhile and hands them over afterwards). The
// handle is given to the connector and back with a mutex, so each side sees all the
// other's writes; libmosquitto runs no thread of its own here, and during the connect call
// it invokes no callback but its log (read in mqtt_link.cpp: lib/connect.c
// mosquitto__reconnect, lib/net_mosq.c, lib/packet_mosq.c at v2.0.11). libmosquitto gets
// the broker's name as written in mqtt.host, so it still verifies the TLS certificate
// against that name and sends it as SNI.
//
// Failed attempts are logged by a promise (docs/mqtt.md, "Connection"): the first of an
// outage at once with its reason; then, while attempts keep failing the same way, one
// reminder per 30 s at most that carries how many failed since the last line; a failure
// of another kind at once; and the reconnect with the outage's count and length.
#pragma once

#include "common/mqtt5.hpp"

#include <mosquitto.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
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
    // TCP_USER_TIMEOUT set on each connection's socket (ms); 0 = left at the kernel's.
    int tcp_user_timeout_ms = 0;
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
    // While connection attempts keep failing the same way, at most one log line per
    // this many milliseconds (the reminder with the count).
    int failure_reminder_ms = 30000;
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
    // topic, payload, response_topic and correlation_data ("" when the sender set none),
    // qos, retained: common/mqtt5's ReceivedMessage.
    using Message = mqtt5::ReceivedMessage;
    // Called on the loop thread for every message on a subscribed topic.
    std::function<void(const Message &)> on_message;
    // Called on the loop thread when the broker acknowledges a QoS 1/2 publish (`mid`
    // from publish()), with its MQTT 5 reason code (>= 0x80: refused).
    std::function<void(int mid, int reason)> on_published;

    // Subscriptions are remembered and renewed on every (re)connect.
    void subscribe(const std::string &topic_filter, int qos);
    // Forgets a subscription (and unsubscribes now when connected).
    void unsubscribe(const std::string &topic_filter);

    void start();
    // Publish on the loop thread; returns a MOSQ_ERR_* code. While not connected, a QoS
    // 1/2 message is queued (libmosquitto's queue; during a connect call this link's own,
    // handed over right after) and sent once connected; QoS 0 gets MOSQ_ERR_NO_CONN.
    // `mid`, when given, receives the message id that on_published reports; a message
    // that asks for one during a connect call gets MOSQ_ERR_NO_CONN (no id exists yet).
    int publish(const std::string &topic, const std::string &payload, int qos, bool retain,
                const std::string &correlation_data = {}, const std::string &response_topic = {},
                int *mid = nullptr);
    // Clean disconnect (no will); `done` runs on the loop once handles are closed. A
    // connect call still running is abandoned: its thread finishes alone (a resolver
    // that does not answer does not delay the stop) and frees the handle if this link
    // is gone by then. After stop(), publish() returns MOSQ_ERR_NO_CONN.
    void stop(std::function<void()> done);
    bool connected() const { return connected_; }
    // The broker's Receive Maximum from the latest CONNACK; 0 when it named none.
    int broker_receive_maximum() const { return broker_receive_maximum_; }

  private:
    struct Client;         // the libmosquitto handle; shared with a running connect call
    struct ConnectAttempt; // one connect call on the connector thread, and its outcome
    struct HeldPublish {   // a QoS 1/2 publish made while a connect call held the handle
        std::string topic, payload, correlation_data, response_topic;
        int qos;
        bool retain;
    };

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
    static void on_attempt_done(uv_async_t *handle);
    static void on_handle_closed(uv_handle_t *handle);

    [[noreturn]] void fail_construction(const std::string &why);
    void try_connect();
    void finish_attempt(ConnectAttempt &attempt);
    void abandon_attempt();
    int publish_now(const std::string &topic, const std::string &payload, int qos, bool retain,
                    const std::string &correlation_data, const std::string &response_topic,
                    int *mid);
    void watch_socket();
    void unwatch_socket();
    void schedule_retry();
    void update_poll_events();
    // The failure log's promise (see the top of this file). `kind` groups failures that
    // an operator fixes the same way ("resolve", "connect", "refused:<code>"); `line` is
    // the full line for the first of a kind; `summary` the short reason a reminder
    // quotes; `details` are libmosquitto's own lines for this attempt (OpenSSL's reason).
    void attempt_failed(const std::string &kind, const std::string &line,
                        const std::string &summary, std::vector<std::string> details);
    void connecting_failed(int rc, const std::string &error, std::vector<std::string> details);
    void log_reminder(uint64_t now_ms);
    void outage_began();
    std::string endpoint() const;

    uv_loop_t *loop_;
    MqttLinkOptions options_;
    std::shared_ptr<Client> client_;
    mosquitto *mosq_ = nullptr; // client_'s handle; the loop uses it only while attempt_ is null
    uv_poll_t poll_{};
    bool polling_ = false;
    int polled_fd_ = -1;
    uv_timer_t tick_{};
    uv_timer_t retry_{};
    uv_async_t attempt_done_{};
    std::shared_ptr<ConnectAttempt> attempt_; // set while the connector thread holds mosq_
    std::deque<HeldPublish> held_;
    int backoff_ms_ = 0;
    bool connected_ = false;
    int broker_receive_maximum_ = 0;
    bool refused_ = false; // the broker's CONNACK refused this attempt (already counted)
    bool stopping_ = false;
    int open_handles_ = 0;
    std::function<void()> stop_done_;
    std::vector<std::pair<std::string, int>> subscriptions_;
    std::set<int> unacked_subscriptions_; // message ids sent at (re)connect

    // The failure log (loop thread).
    uint64_t outage_since_ms_ = 0; // when this outage began (start or loss)
    int outage_failures_ = 0;      // failed attempts in this outage
    bool outage_reported_ = false; // a failure line was logged in this outage
    std::string last_kind_;        // the kind of the last failure line
    uint64_t last_line_ms_ = 0;    // when the last failure line or reminder was logged
    int unreported_failures_ = 0;  // failed attempts since that line
    std::string latest_summary_;   // the latest failure's short reason
};

} // namespace tierd
