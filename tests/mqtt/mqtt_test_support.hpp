// What the MqttLink tests share: a real mosquitto on a loopback port, a DNS server on
// 127.0.0.1:53 that answers late or never (for tests run inside a network namespace whose
// resolver is 127.0.0.1: tests/mqtt/dns_test.sh), the agent's log lines as the test sees
// them, and running a libuv loop until an event, with a deadline.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace spdlog {
class logger;
}

namespace tierd::mqtt_test {

// A port on 127.0.0.1 that nothing listened on a moment ago.
int free_port();

// A real mosquitto listening on 127.0.0.1:`port` (0: a free one) with `extra_conf` lines
// (TLS files, ...). Stopped (SIGTERM, then waited for) by stop() or the destructor.
class Broker {
  public:
    explicit Broker(std::string extra_conf = {}, int port = 0);
    ~Broker();
    Broker(const Broker &) = delete;
    Broker &operator=(const Broker &) = delete;
    bool start(); // waits until it accepts TCP connections (10 s at most)
    void stop();
    int port() const { return port_; }
    std::string log() const; // what mosquitto wrote

  private:
    std::string dir_;
    std::string extra_conf_;
    int port_;
    int pid_ = -1;
};

// Serves DNS on 127.0.0.1:53 (UDP) from a thread: answers every A query with 127.0.0.1
// and every other query with no records, each `delay_ms` after it came; with
// `answer = false` it reads queries and never answers (a resolver that hangs).
class DnsServer {
  public:
    DnsServer(bool answer, int delay_ms);
    ~DnsServer();
    DnsServer(const DnsServer &) = delete;
    DnsServer &operator=(const DnsServer &) = delete;
    bool listening() const { return fd_ >= 0; }
    int queries() const { return queries_.load(); }

  private:
    void serve();
    int fd_ = -1;
    bool answer_;
    int delay_ms_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> queries_{0};
    std::thread thread_;
};

// Sends spdlog's default logger to a string for the test's lifetime (and back after).
class LogCapture {
  public:
    LogCapture();
    ~LogCapture();
    LogCapture(const LogCapture &) = delete;
    LogCapture &operator=(const LogCapture &) = delete;
    std::string text() const;
    // Lines that contain `needle`.
    int count(const std::string &needle) const;

  private:
    std::shared_ptr<std::ostringstream> out_;
    std::shared_ptr<spdlog::logger> previous_;
};

// Runs `loop` until `done()` or `deadline`; returns done().
bool run_until(uv_loop_t *loop, const std::function<bool()> &done,
               std::chrono::milliseconds deadline = std::chrono::seconds(10));

} // namespace tierd::mqtt_test
