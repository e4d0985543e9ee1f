#include "agent/core/mqtt_link.hpp"

#include <mqtt_protocol.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace tierd {

namespace {
constexpr uint64_t kTickMs = 100; // mosquitto_loop_misc cadence: keepalive pings, retries

// libmosquitto's own error lines carry what its return codes do not: OpenSSL's reason for
// a failed handshake ("certificate verify failed", "tlsv13 alert certificate required").
void on_mosquitto_log(mosquitto *, void *, int level, const char *line) {
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
        spdlog::warn("mqtt: libmosquitto: {}", line);
}
} // namespace

MqttLink::MqttLink(uv_loop_t *loop, MqttLinkOptions options)
    : loop_(loop), options_(std::move(options)) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(options_.client_id.c_str(), true, this);
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    // Commands are answered with small packets right after the PUBACK for the request;
    // with Nagle's algorithm the reply would wait for the broker's delayed ACK (~40 ms).
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    if (!options_.username.empty()) {
        int rc = mosquitto_username_pw_set(mosq_, options_.username.c_str(),
                                           options_.password.empty() ? nullptr
                                                                     : options_.password.c_str());
        if (rc != MOSQ_ERR_SUCCESS)
            fail_construction(std::string("mqtt: username/password rejected: ") +
                              mosquitto_strerror(rc));
    }
    if (!options_.tls_ca_file.empty()) {
        auto opt = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
        int rc =
            mosquitto_tls_set(mosq_, options_.tls_ca_file.c_str(), nullptr,
                              opt(options_.tls_cert_file), opt(options_.tls_key_file), nullptr);
        if (rc != MOSQ_ERR_SUCCESS)
            fail_construction(std::string("mqtt: TLS setup failed (mqtt.tls_*): ") +
                              mosquitto_strerror(rc));
    }
    mosquitto_connect_v5_callback_set(mosq_, &MqttLink::on_connect_cb);
    mosquitto_disconnect_v5_callback_set(mosq_, &MqttLink::on_disconnect_cb);
    mosquitto_message_v5_callback_set(mosq_, &MqttLink::on_message_cb);
    mosquitto_subscribe_v5_callback_set(mosq_, &MqttLink::on_subscribe_cb);
    mosquitto_log_callback_set(mosq_, &on_mosquitto_log);
    mosquitto_publish_v5_callback_set(mosq_, &MqttLink::on_publish_cb);
    if (!options_.will_topic.empty())
        mosquitto_will_set_v5(mosq_, options_.will_topic.c_str(),
                              static_cast<int>(options_.will_payload.size()),
                              options_.will_payload.data(), 1, true, nullptr);
    uv_timer_init(loop_, &tick_);
    tick_.data = this;
    uv_timer_init(loop_, &retry_);
    retry_.data = this;
    backoff_ms_ = options_.reconnect_min_ms;
}

// The destructor does not run for a throwing constructor: release what it made.
void MqttLink::fail_construction(const std::string &why) {
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
    mosquitto_lib_cleanup();
    throw std::runtime_error(why);
}

MqttLink::~MqttLink() {
    if (mosq_)
        mosquitto_destroy(mosq_);
    mosquitto_lib_cleanup();
}

void MqttLink::start() {
    uv_timer_start(&tick_, &MqttLink::on_tick_cb, kTickMs, kTickMs);
    try_connect();
}

void MqttLink::try_connect() {
    if (stopping_)
        return;
    // connect_async does a non-blocking TCP connect; CONNACK arrives through the poll.
    int rc =
        mosquitto_connect_async(mosq_, options_.host.c_str(), options_.port, options_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
        spdlog::warn("mqtt: connect to {}:{} failed: {}", options_.host, options_.port,
                     mosquitto_strerror(rc));
        schedule_retry();
        return;
    }
    watch_socket();
}

void MqttLink::watch_socket() {
    int fd = mosquitto_socket(mosq_);
    if (fd < 0) {
        schedule_retry();
        return;
    }
    if (polling_ && polled_fd_ != fd)
        unwatch_socket();
    if (!polling_) {
        uv_poll_init_socket(loop_, &poll_, fd);
        poll_.data = this;
        polling_ = true;
        polled_fd_ = fd;
    }
    update_poll_events();
}

void MqttLink::unwatch_socket() {
    if (!polling_)
        return;
    polling_ = false;
    polled_fd_ = -1;
    uv_poll_stop(&poll_);
    ++open_handles_;
    uv_close(reinterpret_cast<uv_handle_t *>(&poll_), &MqttLink::on_handle_closed);
}

// Handles are freed only after their close callback; stop() completes when the last
// one has closed.
void MqttLink::on_handle_closed(uv_handle_t *handle) {
    auto *self = static_cast<MqttLink *>(handle->data);
    if (--self->open_handles_ == 0 && self->stopping_ && self->stop_done_)
        self->stop_done_();
}

void MqttLink::update_poll_events() {
    if (!polling_)
        return;
    // libmosquitto closes its socket itself on some errors (keepalive expired in
    // loop_misc); libuv must never be asked to poll a closed descriptor.
    if (mosquitto_socket(mosq_) != polled_fd_)
        return;
    int events = UV_READABLE | (mosquitto_want_write(mosq_) ? UV_WRITABLE : 0);
    uv_poll_start(&poll_, events, &MqttLink::on_poll_cb);
}

void MqttLink::schedule_retry() {
    if (stopping_)
        return;
    unwatch_socket();
    // Full jitter keeps a fleet that lost its broker from reconnecting in lockstep.
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<int> jitter(backoff_ms_ / 2, backoff_ms_);
    uv_timer_start(&retry_, &MqttLink::on_retry_cb, static_cast<uint64_t>(jitter(rng)), 0);
    backoff_ms_ = std::min(backoff_ms_ * 2, options_.reconnect_max_ms);
}

void MqttLink::on_retry_cb(uv_timer_t *handle) {
    auto *self = static_cast<MqttLink *>(handle->data);
    int rc = mosquitto_reconnect_async(self->mosq_);
    if (rc != MOSQ_ERR_SUCCESS) {
        self->schedule_retry();
        return;
    }
    self->watch_socket();
}

void MqttLink::on_poll_cb(uv_poll_t *handle, int status, int events) {
    auto *self = static_cast<MqttLink *>(handle->data);
    bool was_connected = self->connected_; // false: still connecting (TLS, CONNECT/CONNACK)
    int rc = MOSQ_ERR_SUCCESS;
    if (status < 0)
        rc = MOSQ_ERR_CONN_LOST;
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_READABLE))
        rc = mosquitto_loop_read(self->mosq_, 1);
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE))
        rc = mosquitto_loop_write(self->mosq_, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        if (was_connected) {
            if (self->connected_) // else on_disconnect_cb has said it
                spdlog::warn("mqtt: connection lost: {}", mosquitto_strerror(rc));
        } else if (rc == MOSQ_ERR_TLS)
            // Before CONNACK: the handshake failed (the OpenSSL reason was logged above).
            spdlog::warn("mqtt: TLS handshake with {}:{} failed; check mqtt.tls_ca_file, "
                         "mqtt.tls_cert_file, mqtt.tls_key_file and that the broker's "
                         "certificate names mqtt.host; retrying",
                         self->options_.host, self->options_.port);
        else if (!self->refused_)
            // With TLS 1.3 a broker that wants a client certificate (or does not trust
            // ours) only closes the connection after the handshake: say what to check.
            spdlog::warn("mqtt: connecting to {}:{} failed: {}{}; retrying", self->options_.host,
                         self->options_.port, mosquitto_strerror(rc),
                         self->options_.tls_ca_file.empty()
                             ? ""
                             : " (TLS: the broker closed the connection before accepting "
                               "it; if it requires a client certificate, check "
                               "mqtt.tls_cert_file and mqtt.tls_key_file)");
        self->refused_ = false;
        self->connected_ = false;
        self->schedule_retry();
        return;
    }
    self->update_poll_events();
}

void MqttLink::on_tick_cb(uv_timer_t *handle) {
    auto *self = static_cast<MqttLink *>(handle->data);
    if (!self->polling_)
        return;
    int rc = mosquitto_loop_misc(self->mosq_);
    // A keepalive that ran out closes the socket inside loop_misc: stop polling it and
    // reconnect, as for a read or write error.
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(self->mosq_) != self->polled_fd_) {
        if (self->connected_)
            spdlog::warn("mqtt: connection lost: {}",
                         mosquitto_strerror(rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_KEEPALIVE : rc));
        self->connected_ = false;
        self->schedule_retry();
        return;
    }
    self->update_poll_events();
}

void MqttLink::on_connect_cb(mosquitto *, void *obj, int rc, int, const mosquitto_property *) {
    auto *self = static_cast<MqttLink *>(obj);
    if (rc != 0) {
        bool credentials = rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD || rc == MQTT_RC_NOT_AUTHORIZED;
        spdlog::warn("mqtt: broker refused connection: {}{}", mosquitto_reason_string(rc),
                     credentials ? " (check mqtt.username and mqtt.password, or the client "
                                   "certificate the broker takes the user name from)"
                                 : "");
        self->refused_ = true; // said once here, not again when the socket closes
        return;                // the broker closes the socket; the poll sees it and retries
    }
    spdlog::info("mqtt: connected to {}:{}", self->options_.host, self->options_.port);
    self->connected_ = true;
    self->backoff_ms_ = self->options_.reconnect_min_ms;
    self->unacked_subscriptions_.clear();
    for (const auto &[filter, qos] : self->subscriptions_) {
        int mid = 0;
        if (mosquitto_subscribe_v5(self->mosq_, &mid, filter.c_str(), qos, 0, nullptr) ==
            MOSQ_ERR_SUCCESS)
            self->unacked_subscriptions_.insert(mid);
    }
    if (self->on_connected)
        self->on_connected();
    if (self->unacked_subscriptions_.empty() && self->on_subscribed)
        self->on_subscribed();
    self->update_poll_events();
}

void MqttLink::on_subscribe_cb(mosquitto *, void *obj, int mid, int, const int *,
                               const mosquitto_property *) {
    auto *self = static_cast<MqttLink *>(obj);
    if (self->unacked_subscriptions_.erase(mid) == 1 && self->unacked_subscriptions_.empty() &&
        self->on_subscribed)
        self->on_subscribed();
}

void MqttLink::on_disconnect_cb(mosquitto *, void *obj, int rc, const mosquitto_property *) {
    auto *self = static_cast<MqttLink *>(obj);
    bool was_connected = self->connected_; // if not, on_poll_cb says why connecting failed
    self->connected_ = false;
    if (rc != 0 && !self->stopping_ && was_connected)
        spdlog::warn("mqtt: disconnected: {}", mosquitto_strerror(rc));
}

int MqttLink::publish(const std::string &topic, const std::string &payload, int qos, bool retain,
                      const std::string &correlation_data, const std::string &response_topic,
                      int *mid) {
    mosquitto_property *props = nullptr;
    if (!response_topic.empty())
        mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic.c_str());
    if (!correlation_data.empty())
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation_data.data(),
                                      static_cast<uint16_t>(correlation_data.size()));
    int rc = mosquitto_publish_v5(mosq_, mid, topic.c_str(), static_cast<int>(payload.size()),
                                  payload.data(), qos, retain, props);
    mosquitto_property_free_all(&props);
    update_poll_events();
    return rc;
}

void MqttLink::subscribe(const std::string &topic_filter, int qos) {
    subscriptions_.emplace_back(topic_filter, qos);
    if (connected_)
        mosquitto_subscribe_v5(mosq_, nullptr, topic_filter.c_str(), qos, 0, nullptr);
}

void MqttLink::on_message_cb(mosquitto *, void *obj, const mosquitto_message *message,
                             const mosquitto_property *props) {
    auto *self = static_cast<MqttLink *>(obj);
    if (!self->on_message)
        return;
    Message m;
    m.topic = message->topic;
    if (message->payloadlen > 0)
        m.payload.assign(static_cast<const char *>(message->payload),
                         static_cast<size_t>(message->payloadlen));
    char *response_topic = nullptr;
    if (mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false)) {
        m.response_topic = response_topic;
        free(response_topic);
    }
    void *correlation = nullptr;
    uint16_t correlation_len = 0;
    if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &correlation,
                                       &correlation_len, false)) {
        m.correlation_data.assign(static_cast<const char *>(correlation), correlation_len);
        free(correlation);
    }
    // Handlers parse what any client may publish. An exception they let out would unwind
    // through libmosquitto's C frames (undefined behaviour; in practice the agent ends), so
    // it stops here: a handler bug, logged; the message is dropped and the agent serves on.
    try {
        self->on_message(m);
    } catch (const std::exception &e) {
        spdlog::error("mqtt: a message on {} was dropped: its handler failed: {}", m.topic,
                      e.what());
    } catch (...) {
        spdlog::error("mqtt: a message on {} was dropped: its handler failed", m.topic);
    }
}

void MqttLink::on_publish_cb(mosquitto *, void *obj, int mid, int reason,
                             const mosquitto_property *) {
    auto *self = static_cast<MqttLink *>(obj);
    if (self->on_published)
        self->on_published(mid, reason);
}

void MqttLink::stop(std::function<void()> done) {
    stopping_ = true;
    if (connected_) {
        mosquitto_disconnect_v5(mosq_, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
        // Flush the DISCONNECT (and anything queued before it) synchronously: the
        // socket is local and the loop is about to end.
        for (int i = 0; i < 10 && mosquitto_want_write(mosq_); ++i)
            mosquitto_loop_write(mosq_, 1);
    }
    connected_ = false;
    uv_timer_stop(&retry_);
    uv_timer_stop(&tick_);
    unwatch_socket();
    stop_done_ = std::move(done);
    open_handles_ += 2;
    uv_close(reinterpret_cast<uv_handle_t *>(&tick_), &MqttLink::on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t *>(&retry_), &MqttLink::on_handle_closed);
}

} // namespace tierd
