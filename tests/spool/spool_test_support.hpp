// What the spool and outbox tests share: temporary directories, a small tmpfs (a disk that
// fills), a real mosquitto broker on a free loopback port, a real MQTT 5 client
// (libmosquitto) for the outbox to publish with, and waiting for an event with a deadline
// while the libuv loop and the client run.
#pragma once

#include "agent/spool/spool_store.hpp"

#include <gtest/gtest.h>
#include <mosquitto.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>

namespace tierd::spool_test {

struct TempDir {
    std::filesystem::path path;
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
};

// A tmpfs of `bytes` mounted on a fresh directory: a disk that fills. Needs root;
// `mounted` is false (and the caller skips) where mounting is not allowed.
struct SmallDisk {
    std::filesystem::path path;
    bool mounted = false;
    explicit SmallDisk(std::size_t bytes);
    ~SmallDisk();
    SmallDisk(const SmallDisk &) = delete;
    SmallDisk &operator=(const SmallDisk &) = delete;
    // Writes a file of zeros until the disk is full; returns its path.
    std::filesystem::path fill(const std::string &name = "filler") const;
};

// A real mosquitto on 127.0.0.1, listening on `port` (picked free at construction and
// kept across restarts). `extra_conf` lines are appended to its config
// (e.g. "max_packet_size 2000").
class Broker {
  public:
    explicit Broker(std::string extra_conf = {});
    ~Broker();
    Broker(const Broker &) = delete;
    Broker &operator=(const Broker &) = delete;
    bool start(); // waits until it accepts connections
    void stop();  // SIGTERM and wait
    void kill();  // SIGKILL and wait (no clean disconnect)
    void freeze();
    void thaw();
    int port() const { return port_; }

  private:
    TempDir dir_;
    std::string extra_conf_;
    int port_ = 0;
    int pid_ = -1;
};

// A libmosquitto MQTT 5 client driven from the test's thread (no client thread):
// run() below calls mosquitto_loop between turns of the libuv loop.
class Client {
  public:
    explicit Client(int port, std::string id = {});
    ~Client();
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    std::function<void(int receive_maximum)> on_connected; // from the CONNACK (0 = absent)
    std::function<void(int mid, int reason)> on_published;

    bool connect();   // starts connecting (non-blocking socket)
    void reconnect(); // after a loss
    void loop(int timeout_ms);
    bool connected() const { return connected_; }
    // QoS 1 publish: the Outbox's PublishFn. Records the message id as outstanding.
    int publish(const std::string &topic, const std::string &payload, int *mid);
    // Message ids published (by publish()) whose PUBACK has not come back yet.
    const std::set<int> &outstanding() const { return outstanding_; }
    mosquitto *handle() { return mosq_; }

  private:
    static void on_connect_cb(mosquitto *, void *, int, int, const mosquitto_property *);
    static void on_disconnect_cb(mosquitto *, void *, int, const mosquitto_property *);
    static void on_publish_cb(mosquitto *, void *, int, int, const mosquitto_property *);
    mosquitto *mosq_ = nullptr;
    int port_;
    bool connected_ = false;
    std::set<int> outstanding_;
};

// A libuv loop with one handle of its own that keeps it alive, as the agent's other
// handles (MQTT, signals, timers) do; the outbox's own handles do not.
struct TestLoop {
    uv_loop_t loop{};
    TestLoop();
    ~TestLoop();
    TestLoop(const TestLoop &) = delete;
    TestLoop &operator=(const TestLoop &) = delete;

  private:
    uv_timer_t agent_{};
};

// Runs the loop (and the client, if any) until `done` or the deadline; returns done().
bool run_until(uv_loop_t *loop, Client *client, const std::function<bool()> &done,
               std::chrono::milliseconds deadline = std::chrono::seconds(10));

// A payload of `size` bytes that starts with `tag`.
std::string payload_of(const std::string &tag, std::size_t size);

// Rows in a spool file, read by a separate SQLite connection (what is really on disk).
std::int64_t rows_on_disk(const std::string &path);

// The two spool stores, for tests that hold both to the same behaviour.
enum class Store { file, memory };
inline const char *name_of(Store s) {
    return s == Store::file ? "File" : "Memory";
}
inline void PrintTo(Store s, std::ostream *os) {
    *os << name_of(s);
}
// `o` with the store's path: <dir>/spool.db for a file, "" in memory.
SpoolOptions options_for(Store s, const TempDir &dir, SpoolOptions o = {});
// Opens a Spool (file) or a MemorySpool with options_for(s, dir, o).
std::unique_ptr<SpoolStore> open_store(Store s, const TempDir &dir, SpoolOptions o = {});

} // namespace tierd::spool_test
