// MqttLink against a real mosquitto on loopback: connecting by name (the connect call runs
// off the loop), what is published meanwhile, stopping and destroying a link while its
// connect call runs, and what the log promises about failed attempts.
#include "agent/core/mqtt_link.hpp"
#include "tests/mqtt/mqtt_test_support.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace tierd {
namespace {

using mqtt_test::Broker;
using mqtt_test::LogCapture;
using mqtt_test::run_until;

class MqttLinkTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
    void TearDown() override {
        uv_run(&loop_, UV_RUN_NOWAIT);
        uv_walk(
            &loop_,
            [](uv_handle_t *h, void *) {
                if (!uv_is_closing(h))
                    uv_close(h, nullptr);
            },
            nullptr);
        uv_run(&loop_, UV_RUN_DEFAULT);
        EXPECT_EQ(uv_loop_close(&loop_), 0);
    }

    MqttLinkOptions options(const std::string &host, int port, const std::string &id) {
        MqttLinkOptions o;
        o.host = host;
        o.port = port;
        o.client_id = id;
        o.reconnect_min_ms = 20;
        o.reconnect_max_ms = 100;
        return o;
    }

    // Stops the link and runs the loop until its handles are closed.
    void stop(MqttLink &link) {
        bool stopped = false;
        link.stop([&stopped] { stopped = true; });
        EXPECT_TRUE(run_until(
            &loop_, [&] { return stopped; }, std::chrono::seconds(5)));
    }

    uv_loop_t loop_{};
};

// The TCP_USER_TIMEOUT (ms) of this process's sockets connected to 127.0.0.1:`port`, as
// the kernel reports it; -1 for each that cannot be read.
std::vector<int> user_timeouts_of_sockets_to(int port) {
    std::vector<int> found;
    for (const auto &entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        int fd = -1;
        try {
            fd = std::stoi(entry.path().filename().string());
        } catch (const std::exception &) {
            continue;
        }
        sockaddr_in peer{};
        socklen_t length = sizeof peer;
        if (getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &length) != 0 ||
            peer.sin_family != AF_INET || ntohs(peer.sin_port) != port)
            continue;
        unsigned int timeout = 0;
        socklen_t size = sizeof timeout;
        found.push_back(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, &size) == 0
                            ? static_cast<int>(timeout)
                            : -1);
    }
    return found;
}

// mqtt.tcp_user_timeout_ms reaches the connection's socket (a cut link then ends the
// connection in that time instead of TCP's ~15 minutes of retransmissions).
TEST_F(MqttLinkTest, TcpUserTimeoutIsSetOnTheConnection) {
    Broker broker;
    ASSERT_TRUE(broker.start());
    MqttLinkOptions o = options("127.0.0.1", broker.port(), "timeout");
    o.tcp_user_timeout_ms = 4321;
    MqttLink link(&loop_, o);
    bool connected = false;
    link.on_connected = [&] { connected = true; };
    link.start();
    ASSERT_TRUE(run_until(&loop_, [&] { return connected; }));
    EXPECT_EQ(user_timeouts_of_sockets_to(broker.port()), std::vector<int>{4321});
    stop(link);

    // 0 leaves the kernel's default (0 there too: no bound).
    MqttLink plain(&loop_, options("127.0.0.1", broker.port(), "plain"));
    connected = false;
    plain.on_connected = [&] { connected = true; };
    plain.start();
    ASSERT_TRUE(run_until(&loop_, [&] { return connected; }));
    EXPECT_EQ(user_timeouts_of_sockets_to(broker.port()), std::vector<int>{0});
    stop(plain);
}

TEST_F(MqttLinkTest, ConnectsByNameAndDeliversWhatWasPublishedWhileConnecting) {
    Broker broker;
    ASSERT_TRUE(broker.start());
    // A subscriber, connected first.
    MqttLink subscriber(&loop_, options("127.0.0.1", broker.port(), "sub"));
    std::vector<std::string> received;
    bool subscribed = false;
    subscriber.on_subscribed = [&] { subscribed = true; };
    subscriber.on_message = [&](const MqttLink::Message &m) { received.push_back(m.payload); };
    subscriber.subscribe("test/held/#", 1);
    subscriber.start();
    ASSERT_TRUE(run_until(&loop_, [&] { return subscribed; }));

    // "localhost" is a name: resolved on the connect thread (from /etc/hosts here).
    MqttLink link(&loop_, options("localhost", broker.port(), "pub"));
    bool connected = false;
    link.on_connected = [&] { connected = true; };
    link.start();
    // The connect call holds the handle now: QoS 1 waits in the link, in order; QoS 0 and
    // a caller that needs a message id hear "not connected".
    EXPECT_FALSE(link.connected());
    EXPECT_EQ(link.publish("test/held/a", "first", 1, false), MOSQ_ERR_SUCCESS);
    EXPECT_EQ(link.publish("test/held/b", "second", 1, false), MOSQ_ERR_SUCCESS);
    EXPECT_EQ(link.publish("test/held/c", "qos0", 0, false), MOSQ_ERR_NO_CONN);
    int mid = 0;
    EXPECT_EQ(link.publish("test/held/d", "wants-mid", 1, false, {}, {}, &mid), MOSQ_ERR_NO_CONN);
    EXPECT_EQ(link.publish("test/held/+", "bad topic", 1, false), MOSQ_ERR_INVAL);
    ASSERT_TRUE(run_until(&loop_, [&] { return connected && received.size() >= 2; }))
        << "connected " << connected << ", received " << received.size();
    EXPECT_EQ(received, (std::vector<std::string>{"first", "second"}));
    stop(link);
    stop(subscriber);
}

TEST_F(MqttLinkTest, StopWhileTheConnectCallRunsEndsAtOnce) {
    Broker broker;
    ASSERT_TRUE(broker.start());
    for (int i = 0; i < 20; ++i) {
        MqttLink link(&loop_, options("localhost", broker.port(), "stop-" + std::to_string(i)));
        link.start();
        EXPECT_EQ(link.publish("test/x", "held", 1, false), MOSQ_ERR_SUCCESS);
        stop(link);
        EXPECT_FALSE(link.connected());
        EXPECT_EQ(link.publish("test/x", "after stop", 1, false), MOSQ_ERR_NO_CONN);
    }
}

TEST_F(MqttLinkTest, ALinkDestroyedWhileItsConnectCallRunsLeavesTheCallToFinishAlone) {
    Broker broker;
    ASSERT_TRUE(broker.start());
    for (int i = 0; i < 20; ++i) {
        auto link = std::make_unique<MqttLink>(&loop_, options("localhost", broker.port(), "gone"));
        link->start();
        bool stopped = false;
        link->stop([&stopped] { stopped = true; });
        ASSERT_TRUE(run_until(&loop_, [&] { return stopped; }));
        link.reset(); // its connect call may still run: it frees the handle itself
    }
    // A link made afterwards works (the library's reference count is intact).
    MqttLink link(&loop_, options("127.0.0.1", broker.port(), "after"));
    bool connected = false;
    link.on_connected = [&] { connected = true; };
    link.start();
    EXPECT_TRUE(run_until(&loop_, [&] { return connected; }));
    stop(link);
}

// The log's promise (docs/mqtt.md "Connection"): the first failed attempt of an outage at
// once and whole; then, while attempts fail the same way, at most one reminder per
// failure_reminder_ms with the count since the last line; the reconnect with the total.
TEST_F(MqttLinkTest, FailedAttemptsAreLoggedOnceThenRemindedWithTheirCount) {
    LogCapture log;
    int port = mqtt_test::free_port(); // nothing listens: every attempt is refused
    auto o = options("127.0.0.1", port, "refused");
    o.failure_reminder_ms = 500;
    MqttLink link(&loop_, o);
    bool connected = false;
    link.on_connected = [&] { connected = true; };
    uint64_t started_ms = uv_now(&loop_);
    link.start();
    const std::string reminder = "mqtt: still cannot connect to 127.0.0.1:" + std::to_string(port);
    ASSERT_TRUE(run_until(&loop_, [&] { return log.count(reminder) >= 2; })) << log.text();
    uint64_t elapsed_ms = uv_now(&loop_) - started_ms;

    std::string text = log.text();
    // One full line for the first failure; the attempts after it only in the reminders.
    EXPECT_EQ(log.count("127.0.0.1:" + std::to_string(port) + " failed"), 1) << text;
    std::regex counted(
        reminder +
        R"(: (\d+) more attempts? failed in the last (\d+) s \(latest: (.+)\); retrying)");
    int reminders = 0, counted_failures = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (!std::regex_search(line, m, counted))
            continue;
        ++reminders;
        counted_failures += std::stoi(m[1]);
        EXPECT_GE(std::stoi(m[1]), 1) << line;
        EXPECT_NE(m[3].str().find("failed"), std::string::npos) << line;
    }
    EXPECT_EQ(reminders, 2) << text;
    // Backoff 10-100 ms: a reminder every 500 ms carries several attempts.
    EXPECT_GE(counted_failures, 4) << text;
    // No more lines than the promise allows.
    EXPECT_LE(reminders, static_cast<int>(elapsed_ms / 500) + 1);

    // The broker comes: the reconnect says how many attempts failed and for how long.
    Broker broker({}, port);
    ASSERT_TRUE(broker.start());
    ASSERT_TRUE(run_until(&loop_, [&] { return connected; })) << log.text();
    std::regex recovered("mqtt: connected to 127.0.0.1:" + std::to_string(port) +
                         R"( after (\d+) failed attempts in \d+ s)");
    std::smatch m;
    std::string after = log.text();
    ASSERT_TRUE(std::regex_search(after, m, recovered)) << after;
    EXPECT_GE(std::stoi(m[1]), 1 + counted_failures);
    stop(link);
}

} // namespace
} // namespace tierd
