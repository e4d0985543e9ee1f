// One MQTT 5 session with the broker, driven by the caller's thread through
// mosquitto_loop: tierctl is a short-lived, single-threaded client, so no locks.
#pragma once

#include "common/mqtt5.hpp"
#include "tools/tierctl/connection_options.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tierctl {

// topic, payload, MQTT 5 correlation data ("" when absent), retained (true only for the
// retained messages sent on subscribe).
using InboundMessage = tierd::mqtt5::ReceivedMessage;

using Clock = std::chrono::steady_clock;

class BrokerSession {
  public:
    // Connects and waits for the CONNACK; throws Failure naming host:port and the reason.
    explicit BrokerSession(const ConnectionOptions &options);
    ~BrokerSession();
    BrokerSession(const BrokerSession &) = delete;
    BrokerSession &operator=(const BrokerSession &) = delete;

    // Subscribes and waits for the SUBACK; throws Failure when the broker refuses a filter.
    void subscribe(const std::vector<std::string> &filters, int qos);
    void publish(const std::string &topic, const std::string &payload, int qos,
                 const std::string &response_topic = {}, const std::string &correlation = {});

    // Runs the network until done() is true or the deadline passes; returns done().
    // done() is checked after every network step, at least every 50 ms.
    bool pump_until(Clock::time_point deadline, const std::function<bool()> &done);

    // Sends DISCONNECT (so the broker does not keep the session around) and flushes it.
    void close();

    std::function<void(const InboundMessage &)> on_message;
    const ConnectionOptions &options() const { return options_; }

  private:
    static void on_connect_cb(mosquitto *, void *obj, int rc, int flags,
                              const mosquitto_property *props);
    static void on_disconnect_cb(mosquitto *, void *obj, int rc, const mosquitto_property *);
    static void on_subscribe_cb(mosquitto *, void *obj, int mid, int count, const int *granted,
                                const mosquitto_property *);
    static void on_message_cb(mosquitto *, void *obj, const mosquitto_message *message,
                              const mosquitto_property *props);
    void step(Clock::time_point deadline);

    ConnectionOptions options_;
    mosquitto *mosq_ = nullptr;
    bool connack_ = false;
    int connack_rc_ = -1;
    bool connected_ = false;
    bool accepted_ = false; // the CONNACK said success: later losses are errors
    bool closed_ = false;
    std::string loop_error_; // why the network loop failed, for the connect error
    int pending_subscribe_mid_ = -1;
    std::vector<int> granted_qos_;
};

} // namespace tierctl
