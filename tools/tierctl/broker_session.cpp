#include "tools/tierctl/broker_session.hpp"

#include "tools/tierctl/exit_codes.hpp"

#include <fmt/format.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tierctl {

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);

// Keeps libmosquitto's global state for the life of the process.
struct LibraryInit {
    LibraryInit() { mosquitto_lib_init(); }
    ~LibraryInit() { mosquitto_lib_cleanup(); }
};

std::string describe_error(int rc, int saved_errno) {
    if (rc == MOSQ_ERR_ERRNO)
        return std::strerror(saved_errno);
    if (rc == MOSQ_ERR_EAI)
        return "cannot resolve the host name";
    return mosquitto_strerror(rc);
}

} // namespace

BrokerSession::BrokerSession(const ConnectionOptions &options) : options_(options) {
    static LibraryInit library;
    mosq_ = mosquitto_new(options_.client_id.c_str(), true, this);
    if (!mosq_)
        throw Failure("mqtt: cannot create a client: " + std::string(std::strerror(errno)));
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    // Requests are small packets: without this each waits for the broker's delayed ACK.
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(mosq_, &BrokerSession::on_connect_cb);
    mosquitto_disconnect_v5_callback_set(mosq_, &BrokerSession::on_disconnect_cb);
    mosquitto_subscribe_v5_callback_set(mosq_, &BrokerSession::on_subscribe_cb);
    mosquitto_message_v5_callback_set(mosq_, &BrokerSession::on_message_cb);

    auto fail = [this](const std::string &why) {
        mosquitto_destroy(mosq_);
        mosq_ = nullptr;
        throw Failure(fmt::format("cannot connect to {}: {}", options_.address(), why));
    };
    if (!options_.username.empty()) {
        int rc = mosquitto_username_pw_set(mosq_, options_.username.c_str(),
                                           options_.password.empty() ? nullptr
                                                                     : options_.password.c_str());
        if (rc != MOSQ_ERR_SUCCESS)
            fail(std::string("username/password not accepted: ") + mosquitto_strerror(rc));
    }
    if (!options_.cafile.empty()) {
        auto opt = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
        int rc = mosquitto_tls_set(mosq_, options_.cafile.c_str(), nullptr, opt(options_.cert),
                                   opt(options_.key), nullptr);
        if (rc != MOSQ_ERR_SUCCESS)
            fail(std::string("TLS setup failed: ") + mosquitto_strerror(rc));
    }

    errno = 0;
    int rc = mosquitto_connect_bind_v5(mosq_, options_.host.c_str(), options_.port,
                                       options_.keepalive_s, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS)
        fail(describe_error(rc, errno));
    pump_until(Clock::now() + kConnectTimeout, [this] { return connack_ || closed_; });
    if (!connack_)
        fail(!closed_ ? std::string("no answer from the broker within 10 s")
             : !loop_error_.empty()
                 ? loop_error_
                 : std::string("the broker closed the connection before accepting it") +
                       (options_.cafile.empty() ? " (a TLS port? then give --cafile)" : ""));
    if (connack_rc_ != 0)
        fail(fmt::format("the broker refused the connection: {}",
                         mosquitto_reason_string(connack_rc_)));
}

BrokerSession::~BrokerSession() {
    if (mosq_)
        mosquitto_destroy(mosq_);
}

void BrokerSession::on_connect_cb(mosquitto *, void *obj, int rc, int, const mosquitto_property *) {
    auto *self = static_cast<BrokerSession *>(obj);
    self->connack_ = true;
    self->connack_rc_ = rc;
    self->connected_ = rc == 0;
    self->accepted_ = rc == 0;
}

void BrokerSession::on_disconnect_cb(mosquitto *, void *obj, int, const mosquitto_property *) {
    auto *self = static_cast<BrokerSession *>(obj);
    self->connected_ = false;
    self->closed_ = true;
}

void BrokerSession::on_subscribe_cb(mosquitto *, void *obj, int mid, int count, const int *granted,
                                    const mosquitto_property *) {
    auto *self = static_cast<BrokerSession *>(obj);
    if (mid != self->pending_subscribe_mid_)
        return;
    self->granted_qos_.assign(granted, granted + count);
    self->pending_subscribe_mid_ = -1;
}

void BrokerSession::on_message_cb(mosquitto *, void *obj, const mosquitto_message *message,
                                  const mosquitto_property *props) {
    auto *self = static_cast<BrokerSession *>(obj);
    if (!self->on_message)
        return;
    InboundMessage m;
    m.topic = message->topic;
    m.retained = message->retain;
    if (message->payloadlen > 0)
        m.payload.assign(static_cast<const char *>(message->payload),
                         static_cast<size_t>(message->payloadlen));
    void *correlation = nullptr;
    uint16_t length = 0;
    if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &correlation, &length,
                                       false)) {
        m.correlation_data.assign(static_cast<const char *>(correlation), length);
        free(correlation);
    }
    self->on_message(m);
}

void BrokerSession::subscribe(const std::vector<std::string> &filters, int qos) {
    std::vector<char *> list;
    for (const auto &filter : filters)
        list.push_back(const_cast<char *>(filter.c_str()));
    int mid = 0;
    int rc = mosquitto_subscribe_multiple(mosq_, &mid, static_cast<int>(list.size()), list.data(),
                                          qos, 0, nullptr);
    if (rc != MOSQ_ERR_SUCCESS)
        throw Failure(fmt::format("subscribe to {} failed: {}", fmt::join(filters, ", "),
                                  mosquitto_strerror(rc)));
    pending_subscribe_mid_ = mid;
    pump_until(Clock::now() + kConnectTimeout, [this] { return pending_subscribe_mid_ < 0; });
    if (pending_subscribe_mid_ >= 0)
        throw Failure(fmt::format("the broker at {} did not acknowledge the subscription to {}",
                                  options_.address(), fmt::join(filters, ", ")));
    for (size_t i = 0; i < granted_qos_.size() && i < filters.size(); ++i)
        if (granted_qos_[i] >= 0x80)
            throw Failure(fmt::format("the broker at {} refused the subscription to {}: {}",
                                      options_.address(), filters[i],
                                      mosquitto_reason_string(granted_qos_[i])));
}

void BrokerSession::publish(const std::string &topic, const std::string &payload, int qos,
                            const std::string &response_topic, const std::string &correlation) {
    mosquitto_property *props = nullptr;
    if (!response_topic.empty())
        mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic.c_str());
    if (!correlation.empty())
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation.data(),
                                      static_cast<uint16_t>(correlation.size()));
    int rc = mosquitto_publish_v5(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                  payload.data(), qos, false, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS)
        throw Failure(fmt::format("publish to {} failed: {}", topic, mosquitto_strerror(rc)));
}

void BrokerSession::step(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int timeout_ms = static_cast<int>(std::clamp<long>(left.count(), 0, 50));
    errno = 0;
    int rc = mosquitto_loop(mosq_, timeout_ms, 1);
    if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_ERRNO && errno == EINTR))
        return;
    int saved = errno;
    closed_ = true;
    // The TLS handshake runs in the loop too: a bad certificate shows up here.
    if (rc != MOSQ_ERR_CONN_LOST && rc != MOSQ_ERR_NO_CONN)
        loop_error_ = describe_error(rc, saved);
    connected_ = false;
    // Until the broker accepted the session the constructor reports it, with the reason.
    if (accepted_)
        throw Failure(fmt::format("connection to {} lost: {}", options_.address(),
                                  describe_error(rc, saved)));
}

bool BrokerSession::pump_until(Clock::time_point deadline, const std::function<bool()> &done) {
    while (!done()) {
        if (Clock::now() >= deadline || (closed_ && !connack_))
            return done();
        step(deadline);
    }
    return true;
}

void BrokerSession::close() {
    if (!connected_)
        return;
    mosquitto_disconnect_v5(mosq_, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
    // Flush what is queued (a QoS 1 request's PUBLISH included) and the DISCONNECT.
    for (int i = 0; i < 20 && mosquitto_want_write(mosq_); ++i)
        mosquitto_loop_write(mosq_, 1);
    connected_ = false;
}

} // namespace tierctl
