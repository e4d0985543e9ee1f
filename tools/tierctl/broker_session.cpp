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

} // namespace

BrokerSession::BrokerSession(const ConnectionOptions &options) : options_(options) {
    // libmosquitto's global state, for the life of the process.
    static tierd::mqtt5::Library library;
    mosq_ = mosquitto_new(options_.client_id.c_str(), true, this);
    if (!mosq_)
        throw Failure("mqtt: cannot create a client: " + std::string(std::strerror(errno)));
    mosquitto_connect_v5_callback_set(mosq_, &BrokerSession::on_connect_cb);
    mosquitto_disconnect_v5_callback_set(mosq_, &BrokerSession::on_disconnect_cb);
    mosquitto_subscribe_v5_callback_set(mosq_, &BrokerSession::on_subscribe_cb);
    mosquitto_message_v5_callback_set(mosq_, &BrokerSession::on_message_cb);

    auto fail = [this](const std::string &why) {
        mosquitto_destroy(mosq_);
        mosq_ = nullptr;
        throw Failure(fmt::format("cannot connect to {}: {}", options_.address(), why));
    };
    // MQTT 5; TCP_NODELAY, since requests are small packets: without it each waits for the
    // broker's delayed ACK.
    if (auto failure =
            tierd::mqtt5::configure_client(mosq_, {options_.username, options_.password,
                                                   options_.cafile, options_.cert, options_.key}))
        fail((failure->step == tierd::mqtt5::SetupFailure::Step::credentials
                  ? std::string("username/password not accepted: ")
                  : std::string("TLS setup failed: ")) +
             mosquitto_strerror(failure->rc));

    errno = 0;
    int rc = mosquitto_connect_bind_v5(mosq_, options_.host.c_str(), options_.port,
                                       options_.keepalive_s, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS)
        fail(tierd::mqtt5::error_text(rc, errno));
    pump_until(Clock::now() + kConnectTimeout, [this] { return connack_ || closed_; });
    if (!connack_)
        fail(!closed_ ? std::string("no answer from the broker within 10 s")
             : !loop_error_.empty()
                 ? loop_error_
                 : std::string("the broker closed the connection before accepting it") +
                       (options_.cafile.empty() ? " (a TLS port? then give --cafile)" : ""));
    if (connack_rc_ != 0)
        fail(fmt::format("the broker refused the connection: {}",
                         tierd::mqtt5::reason_text(connack_rc_)));
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
    if (self->on_message)
        self->on_message(tierd::mqtt5::read_message(*message, props));
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
        if (tierd::mqtt5::is_refusal(granted_qos_[i]))
            throw Failure(fmt::format("the broker at {} refused the subscription to {}: {}",
                                      options_.address(), filters[i],
                                      tierd::mqtt5::reason_text(granted_qos_[i])));
}

void BrokerSession::publish(const std::string &topic, const std::string &payload, int qos,
                            const std::string &response_topic, const std::string &correlation) {
    int rc = tierd::mqtt5::publish(mosq_, nullptr, topic, payload, qos, false, response_topic,
                                   correlation);
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
        loop_error_ = tierd::mqtt5::error_text(rc, saved);
    connected_ = false;
    // Until the broker accepted the session the constructor reports it, with the reason.
    if (accepted_)
        throw Failure(fmt::format("connection to {} lost: {}", options_.address(),
                                  tierd::mqtt5::error_text(rc, saved)));
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
    // Flush what is queued (a QoS 1 request's PUBLISH included) and the DISCONNECT.
    tierd::mqtt5::disconnect_and_flush(mosq_, 20);
    connected_ = false;
}

} // namespace tierctl
