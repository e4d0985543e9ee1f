// Delivers the spool's entries to the broker in order, at QoS 1, and deletes each only
// when its PUBACK arrives. At most `window` entries are out unacknowledged at once.
//
// Delivery is at least once: after a reconnect (or a restart) every entry still held is
// published again from the oldest, so an entry whose PUBACK was lost arrives twice.
// Consumers drop repeats by the result's `task_id` (docs/mqtt.md, Delivery); after that,
// each device's results arrive in the order they were stored.
//
// Threads: the loop thread only. The loop must outlive the outbox; stop() closes its
// timer, after which put() still stores (nothing is lost at shutdown) but nothing is
// published.
#pragma once

#include "agent/spool/spool.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tierd {

class Outbox {
  public:
    // Publishes at QoS 1; returns 0 and sets *mid when the message is on its way, or
    // non-zero when it cannot go out now (not connected).
    using PublishFn =
        std::function<int(const std::string &topic, const std::string &payload, int *mid)>;

    Outbox(uv_loop_t *loop, std::unique_ptr<Spool> spool, int window, PublishFn publish);
    ~Outbox();
    Outbox(const Outbox &) = delete;
    Outbox &operator=(const Outbox &) = delete;

    // Stores an entry and sends what the window allows. Returns the spool's verdict.
    Spool::Append put(const std::string &topic, const std::string &payload);

    // A session to the broker is up: everything held is (re)sent from the oldest.
    void connected();
    // The broker acknowledged message `mid` with `reason` (MQTT 5 reason code).
    void acknowledged(int mid, int reason);

    // Whether the spool is under its byte bound (when_full = block: the source waits).
    bool has_room() const { return spool_->has_room(); }
    // Called when room frees up again after has_room() was false.
    std::function<void()> on_room;

    // spool.* for status and telemetry.
    nlohmann::json status() const;

    void stop();

  private:
    void pump();
    static void on_timer(uv_timer_t *timer);
    std::int64_t now_ms() const;

    uv_loop_t *loop_;
    std::unique_ptr<Spool> spool_;
    int window_;
    PublishFn publish_;
    uv_timer_t timer_{};
    bool stopped_ = false;
    bool online_ = false;
    bool was_full_ = false;
    std::int64_t last_sent_ = 0;            // highest seq handed to the broker this session
    std::map<int, std::int64_t> in_flight_; // mid -> seq
    // Acknowledged entries whose delete failed (disk full): deleted again every second.
    std::vector<std::int64_t> undeleted_;
    std::uint64_t sent_ = 0, resent_sessions_ = 0;
};

} // namespace tierd
