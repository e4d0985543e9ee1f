// The MQTT 5 helpers against a real mosquitto on loopback: request/response properties
// survive the broker (binary correlation data included), retained flags, the flush on
// disconnect, setup failures, and the texts of codes.
#include "common/mqtt5.hpp"

#include "tests/common/broker_process.hpp"

#include <gtest/gtest.h>
#include <mqtt_protocol.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace std::string_literals;
using tierd::mqtt5::ReceivedMessage;
using Clock = std::chrono::steady_clock;

tierd::mqtt5::Library library; // for every client of this test program

// A blocking test client driven by mosquitto_loop on the test's thread.
class Client {
  public:
    // `will`: a will on t/will with this payload, when not empty.
    Client(int port, const std::string &id, const std::string &will = {}) {
        mosq_ = mosquitto_new(id.c_str(), true, this);
        EXPECT_FALSE(tierd::mqtt5::configure_client(mosq_, {}));
        if (!will.empty()) {
            EXPECT_EQ(mosquitto_will_set_v5(mosq_, "t/will", static_cast<int>(will.size()),
                                            will.data(), 1, false, nullptr),
                      MOSQ_ERR_SUCCESS);
        }
        mosquitto_connect_v5_callback_set(
            mosq_, [](mosquitto *, void *self, int rc, int, const mosquitto_property *) {
                static_cast<Client *>(self)->connack_ = rc == 0 ? 1 : -1;
            });
        mosquitto_subscribe_v5_callback_set(
            mosq_, [](mosquitto *, void *self, int, int, const int *, const mosquitto_property *) {
                ++static_cast<Client *>(self)->subacks_;
            });
        mosquitto_publish_v5_callback_set(
            mosq_, [](mosquitto *, void *self, int, int, const mosquitto_property *) {
                ++static_cast<Client *>(self)->acknowledged;
            });
        mosquitto_message_v5_callback_set(mosq_, [](mosquitto *, void *self,
                                                    const mosquitto_message *m,
                                                    const mosquitto_property *props) {
            static_cast<Client *>(self)->received.push_back(tierd::mqtt5::read_message(*m, props));
        });
        EXPECT_EQ(mosquitto_connect_bind_v5(mosq_, "127.0.0.1", port, 30, nullptr, nullptr),
                  MOSQ_ERR_SUCCESS);
        EXPECT_TRUE(pump_until([this] { return connack_ != 0; }));
        EXPECT_EQ(connack_, 1);
    }
    ~Client() { mosquitto_destroy(mosq_); }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    void subscribe(const std::string &filter) {
        const int before = subacks_;
        ASSERT_EQ(mosquitto_subscribe_v5(mosq_, nullptr, filter.c_str(), 1, 0, nullptr),
                  MOSQ_ERR_SUCCESS);
        ASSERT_TRUE(pump_until([&] { return subacks_ > before; }));
    }

    // Runs the network until everything queued is written.
    bool flush() {
        return pump_until([this] { return !mosquitto_want_write(mosq_); });
    }

    bool pump_until(const std::function<bool()> &done) {
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        while (!done()) {
            if (Clock::now() > deadline)
                return false;
            if (mosquitto_loop(mosq_, 20, 1) != MOSQ_ERR_SUCCESS)
                return done();
        }
        return true;
    }

    mosquitto *handle() { return mosq_; }
    std::vector<ReceivedMessage> received;
    int acknowledged = 0; // publishes the broker acknowledged (QoS 1/2)

  private:
    mosquitto *mosq_ = nullptr;
    int connack_ = 0;
    int subacks_ = 0;
};

class Mqtt5 : public ::testing::Test {
  protected:
    test_support::BrokerProcess broker_;
};

TEST_F(Mqtt5, RequestPropertiesCrossTheBroker) {
    Client device(broker_.port(), "device"), console(broker_.port(), "console");
    device.subscribe("tierd/v1/dev/d/cmd");
    const std::string correlation = "\x00\x01\xff-binary\x00"s;
    int mid = 0;
    ASSERT_EQ(tierd::mqtt5::publish(console.handle(), &mid, "tierd/v1/dev/d/cmd",
                                    R"({"op":"ping"})", 1, false, "tierd/v1/console/c/reply",
                                    correlation),
              MOSQ_ERR_SUCCESS);
    EXPECT_GT(mid, 0);
    ASSERT_TRUE(console.flush());
    ASSERT_TRUE(device.pump_until([&] { return !device.received.empty(); }));
    const auto &m = device.received.front();
    EXPECT_EQ(m.topic, "tierd/v1/dev/d/cmd");
    EXPECT_EQ(m.payload, R"({"op":"ping"})");
    EXPECT_EQ(m.response_topic, "tierd/v1/console/c/reply");
    EXPECT_EQ(m.correlation_data, correlation);
    EXPECT_EQ(m.qos, 1);
    EXPECT_FALSE(m.retained);
}

TEST_F(Mqtt5, AMessageWithoutPropertiesReadsEmpty) {
    Client reader(broker_.port(), "reader"), writer(broker_.port(), "writer");
    reader.subscribe("t/plain");
    ASSERT_EQ(tierd::mqtt5::publish(writer.handle(), nullptr, "t/plain", "", 0, false),
              MOSQ_ERR_SUCCESS);
    ASSERT_TRUE(writer.flush());
    ASSERT_TRUE(reader.pump_until([&] { return !reader.received.empty(); }));
    const auto &m = reader.received.front();
    EXPECT_EQ(m.topic, "t/plain");
    EXPECT_TRUE(m.payload.empty());
    EXPECT_TRUE(m.response_topic.empty());
    EXPECT_TRUE(m.correlation_data.empty());
}

TEST_F(Mqtt5, RetainedMessagesAreMarkedOnSubscribe) {
    {
        Client writer(broker_.port(), "writer");
        ASSERT_EQ(tierd::mqtt5::publish(writer.handle(), nullptr, "tierd/v1/dev/w/status",
                                        R"({"state":"online"})", 1, true),
                  MOSQ_ERR_SUCCESS);
        tierd::mqtt5::disconnect_and_flush(writer.handle(), 20);
    }
    Client reader(broker_.port(), "reader");
    reader.subscribe("tierd/v1/dev/+/status");
    ASSERT_TRUE(reader.pump_until([&] { return !reader.received.empty(); }));
    EXPECT_TRUE(reader.received.front().retained);
    EXPECT_EQ(reader.received.front().payload, R"({"state":"online"})");
}

// What was queued before the DISCONNECT reaches the broker: a console's last request is
// not lost when it exits right after sending it.
TEST_F(Mqtt5, DisconnectFlushesWhatWasQueued) {
    Client reader(broker_.port(), "reader");
    reader.subscribe("t/last");
    {
        Client writer(broker_.port(), "writer");
        for (int i = 0; i < 50; ++i)
            ASSERT_EQ(tierd::mqtt5::publish(writer.handle(), nullptr, "t/last",
                                            std::string(1000, 'x') + std::to_string(i), 0, false),
                      MOSQ_ERR_SUCCESS);
        tierd::mqtt5::disconnect_and_flush(writer.handle(), 100);
    } // destroyed without running its loop again
    ASSERT_TRUE(reader.pump_until([&] { return reader.received.size() == 50; }))
        << reader.received.size() << " of 50";
    EXPECT_EQ(reader.received.back().payload, std::string(1000, 'x') + "49");
}

// QoS 1 publishes whose acknowledgements were awaited (as the header asks) all arrive.
TEST_F(Mqtt5, AcknowledgedPublishesSurviveTheDisconnect) {
    Client reader(broker_.port(), "reader");
    reader.subscribe("t/acked");
    {
        Client writer(broker_.port(), "writer");
        for (int i = 0; i < 5; ++i)
            ASSERT_EQ(tierd::mqtt5::publish(writer.handle(), nullptr, "t/acked",
                                            "m" + std::to_string(i), 1, false),
                      MOSQ_ERR_SUCCESS);
        ASSERT_TRUE(writer.pump_until([&] { return writer.acknowledged == 5; }));
        tierd::mqtt5::disconnect_and_flush(writer.handle(), 20);
    }
    ASSERT_TRUE(reader.pump_until([&] { return reader.received.size() == 5; }))
        << reader.received.size() << " of 5";
    EXPECT_EQ(reader.received.back().payload, "m4");
}

// A clean stop is a normal disconnection: the broker drops the will. A client that just
// vanishes gets its will published.
TEST_F(Mqtt5, ACleanDisconnectDropsTheWill) {
    Client reader(broker_.port(), "reader");
    reader.subscribe("t/will");
    {
        Client clean(broker_.port(), "clean", "clean-will");
        ASSERT_TRUE(clean.flush());
        tierd::mqtt5::disconnect_and_flush(clean.handle(), 20);
    }
    {
        Client vanished(broker_.port(), "vanished", "vanished-will");
    } // socket closed, no DISCONNECT
    ASSERT_TRUE(reader.pump_until([&] { return !reader.received.empty(); }));
    EXPECT_EQ(reader.received.front().payload, "vanished-will");
    EXPECT_EQ(reader.received.size(), 1u);
}

TEST(Mqtt5Publish, RefusesCorrelationDataMqttCannotCarry) {
    mosquitto *mosq = mosquitto_new("offline", true, nullptr);
    ASSERT_FALSE(tierd::mqtt5::configure_client(mosq, {}));
    EXPECT_EQ(
        tierd::mqtt5::publish(mosq, nullptr, "t", "x", 1, false, "r", std::string(65536, 'c')),
        MOSQ_ERR_INVAL);
    // 65,535 bytes are allowed: the refusal then is only "not connected".
    EXPECT_EQ(
        tierd::mqtt5::publish(mosq, nullptr, "t", "x", 1, false, "r", std::string(65535, 'c')),
        MOSQ_ERR_NO_CONN);
    mosquitto_destroy(mosq);
}

TEST(Mqtt5Setup, NamesTheStepThatFailed) {
    mosquitto *mosq = mosquitto_new("setup", true, nullptr);
    tierd::mqtt5::ClientSecurity security;
    security.username = "cam-1";
    security.password = "secret";
    EXPECT_FALSE(tierd::mqtt5::configure_client(mosq, security));
    security.tls_ca_file = "/nonexistent/ca.pem";
    auto failure = tierd::mqtt5::configure_client(mosq, security);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->step, tierd::mqtt5::SetupFailure::Step::tls);
    EXPECT_NE(failure->rc, MOSQ_ERR_SUCCESS);
    security.tls_ca_file.clear();
    security.username = "bad\xff\xfe"; // not UTF-8: MQTT refuses it
    failure = tierd::mqtt5::configure_client(mosq, security);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->step, tierd::mqtt5::SetupFailure::Step::credentials);
    mosquitto_destroy(mosq);
}

TEST(Mqtt5Texts, ReasonCodesAndErrors) {
    EXPECT_EQ(tierd::mqtt5::reason_text(MQTT_RC_NOT_AUTHORIZED), "Not authorized");
    EXPECT_TRUE(tierd::mqtt5::is_refusal(MQTT_RC_NOT_AUTHORIZED));
    EXPECT_TRUE(tierd::mqtt5::is_refusal(0x80));
    EXPECT_FALSE(tierd::mqtt5::is_refusal(MQTT_RC_GRANTED_QOS1));
    EXPECT_EQ(tierd::mqtt5::error_text(MOSQ_ERR_ERRNO, ECONNREFUSED), "Connection refused");
    EXPECT_EQ(tierd::mqtt5::error_text(MOSQ_ERR_EAI, 0), "cannot resolve the host name");
    EXPECT_EQ(tierd::mqtt5::error_text(MOSQ_ERR_NO_CONN, 0), mosquitto_strerror(MOSQ_ERR_NO_CONN));
}

} // namespace
