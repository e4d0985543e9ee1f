// Delivers the spool's entries to the broker in order, at QoS 1, and deletes each only
// when its PUBACK arrives. At most `window` entries are out unacknowledged at once.
//
// Delivery is at least once: after a reconnect (or a restart) every entry still held is
// published again from the oldest, so an entry whose PUBACK was lost arrives twice.
// Consumers drop repeats by the result's `task_id` (docs/mqtt.md, Delivery); after that,
// each device's results arrive in the order they were stored.
//
// The outbox is the loop's side of the spool: it never touches the store. put() hands the
// entry to the spool's writer thread (spool_writer.hpp) and returns at once; the writer
// commits it within one batch (a few ms; one fsync per batch with sync = "full") and only
// then is it published, so everything the broker has seen is on disk. Counters in
// status() lag by at most one batch.
//
// The window and the MQTT client's queue: libmosquitto sends at most the broker's Receive
// Maximum of QoS 1 messages at once and queues the rest in order, so a command reply
// published behind a full queue waits for PUBACKs of results. The outbox keeps its
// entries in flight below that quota (connected()'s argument, less a quarter kept for
// the agent's own messages) and counts the previous session's messages, which
// libmosquitto sends again by itself after a reconnect, against its window until they are
// acknowledged (or 5 s have passed).
//
// Threads: the loop thread only, except flush(). The loop must outlive the outbox.
#pragma once

#include "agent/spool/spool.hpp"
#include "agent/spool/spool_writer.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tierd {

class Outbox {
  public:
    // Publishes at QoS 1; returns 0 and sets *mid when the message is on its way, or a
    // MOSQ_ERR_* code when it cannot go out: MOSQ_ERR_OVERSIZE_PACKET (larger than the
    // broker's Maximum Packet Size), MOSQ_ERR_PAYLOAD_SIZE, MOSQ_ERR_MALFORMED_UTF8 and
    // MOSQ_ERR_INVAL mean this entry can never go (it is dropped and counted); any other
    // code means not now (not connected): sending resumes at the next connected().
    using PublishFn =
        std::function<int(const std::string &topic, const std::string &payload, int *mid)>;

    // Opens the spool on the writer thread. A file that cannot be used now is left as it
    // is and tried again (status: `error`), entries held in memory meanwhile.
    Outbox(uv_loop_t *loop, SpoolOptions options, int window, PublishFn publish);
    // Takes a store already opened (on this thread: a Spool or a MemorySpool); it is not
    // re-opened on errors.
    Outbox(uv_loop_t *loop, std::unique_ptr<SpoolStore> spool, int window, PublishFn publish);
    // Writes every entry put (blocks until the writer is done; a few seconds at most if
    // the file stays locked), then ends the writer. Call stop() first while the loop runs.
    ~Outbox();
    Outbox(const Outbox &) = delete;
    Outbox &operator=(const Outbox &) = delete;

    // Hands an entry to the spool and returns at once. False when it was dropped at once
    // (the writer's queue is full: the disk cannot keep up; counted in
    // dropped.write_failed); the other verdicts (bounds, a full disk) come later, in the
    // counters. Also after stop(): what finishes during the drain is stored.
    bool put(std::string topic, std::string payload, EntryClass cls = EntryClass::result);

    // A session to the broker is up: everything held is (re)sent from the oldest.
    // `broker_receive_maximum`: the CONNACK's Receive Maximum (0 = not given: libmosquitto
    // then keeps its default of 20 in flight).
    void connected(int broker_receive_maximum = 0);
    // The broker acknowledged message `mid` with `reason` (MQTT 5 reason code,
    // puback_reason.hpp). Ids that are not the outbox's are ignored.
    void acknowledged(int mid, int reason);

    // Whether the spool (what it holds plus what is queued for it) is under its byte
    // bound (when_full = block: the source waits until on_room).
    bool has_room() const;
    // Called on the loop when room frees up again after has_room() was false.
    std::function<void()> on_room;

    // spool.* for status and telemetry.
    nlohmann::json status() const;
    // Entries published and not yet acknowledged at most now.
    int window() const;

    // Stops publishing. `on_stored` runs on the loop once every entry put before stop()
    // is on disk (the outbox keeps the loop running until then); the outbox's handles are
    // closed then. Entries put later are still stored: by the destructor, or by flush().
    void stop(std::function<void()> on_stored = {});
    // Blocks until every entry put so far is written (or the timeout passes); true when
    // it is. For a process about to end without destructors (the drain deadline's
    // _Exit). Any thread that does not race put().
    bool flush(std::chrono::milliseconds timeout);

  private:
    struct Handles;
    struct Flight {
        std::int64_t seq;
        std::uint64_t generation;
    };

    void init_handles();
    void on_report();
    void request_read();
    void publish(std::vector<SpoolEntry> entries);
    void refuse(std::int64_t seq, std::uint64_t generation, bool oversize);
    void pause_for(std::int64_t seq, int attempts);
    void on_timer();
    void arm_timer();
    void carry_in_flight();
    void note_room();
    void update_ref();
    void close_handles();
    std::uint64_t queued_bytes() const { return put_bytes_sent_ - report_.put_bytes_done; }
    std::uint64_t now_ms() const;

    uv_loop_t *loop_;
    int window_;
    PublishFn publish_;
    std::int64_t max_bytes_;
    std::uint64_t queue_limit_bytes_;
    SpoolWhenFull when_full_;
    std::unique_ptr<SpoolWriter> writer_;
    Handles *handles_ = nullptr; // freed by its close callback
    bool handles_closed_ = false;
    SpoolReport report_;
    std::uint64_t generation_ = 0;
    // Commands handed to the writer (puts, deletes) and of which puts, with their bytes.
    std::uint64_t commands_sent_ = 0, puts_sent_ = 0, put_bytes_sent_ = 0;
    bool stopped_ = false;
    std::uint64_t stop_target_ = 0;
    std::function<void()> on_stored_;
    bool online_ = false;
    int quota_ = 20;
    mutable bool was_full_ = false;
    std::int64_t last_sent_ = 0; // highest seq handed to the broker this session
    std::map<int, Flight> in_flight_;
    // The previous session's message ids libmosquitto may still send -> when to stop
    // counting them (loop ms).
    std::map<int, std::uint64_t> carried_;
    bool read_outstanding_ = false;
    std::uint64_t read_id_ = 0;
    std::size_t read_max_ = 0;
    // Refused for now (a transient PUBACK): sending pauses until paused_until_, then
    // resumes from resume_from_.
    bool paused_ = false;
    std::uint64_t paused_until_ = 0;
    std::int64_t resume_from_ = std::numeric_limits<std::int64_t>::max();
    std::map<std::int64_t, int> refusals_; // seq -> transient refusals so far
    std::uint64_t sent_ = 0, resent_sessions_ = 0, retried_ = 0, queue_full_ = 0;
    bool warned_oversize_ = false;
};

} // namespace tierd
