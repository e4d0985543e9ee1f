#include "agent/spool/outbox.hpp"

#include "agent/spool/puback_reason.hpp"
#include "agent/spool/spool_clock.hpp"

#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace tierd {

namespace {
// libmosquitto's own limit of QoS 1 messages in flight when the broker names none.
constexpr int kClientDefaultQuota = 20;
// The previous session's messages count against the window this long at most (they may
// never be acknowledged: a new client, a broker that lost them).
constexpr std::uint64_t kCarriedHoldMs = 5000;
// A transiently refused entry is sent again after 1 s, doubling to 60 s; after this many
// refusals in a row it is dropped as refused for good (counted) so that it cannot hold
// delivery back forever.
constexpr int kMaxTransientRefusals = 8;
constexpr std::uint64_t kRetryFirstMs = 1000, kRetryMaxMs = 60000;
// What the writer may have queued before new entries are dropped (the disk cannot keep
// up): at most the spool's bound, at least 4 MiB, at most 64 MiB.
constexpr std::uint64_t kQueueMinBytes = std::uint64_t{4} << 20;
constexpr std::uint64_t kQueueMaxBytes = std::uint64_t{64} << 20;

// A publish error that no retry can cure for this entry.
bool unsendable(int rc) {
    return rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_PAYLOAD_SIZE ||
           rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_INVAL;
}
} // namespace

// The loop handles live on the heap: libuv touches a handle until its close callback, which
// may run after the outbox is gone.
struct Outbox::Handles {
    uv_async_t wake{};
    uv_timer_t timer{};
    Outbox *owner = nullptr;
    int open = 2;
};

Outbox::Outbox(uv_loop_t *loop, SpoolOptions options, int window, PublishFn publish)
    : loop_(loop), window_(window < 1 ? 1 : window), publish_(std::move(publish)),
      max_bytes_(options.max_bytes), when_full_(options.when_full) {
    queue_limit_bytes_ = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(max_bytes_),
                                                   kQueueMinBytes, kQueueMaxBytes);
    init_handles();
    auto *h = handles_;
    writer_ = std::make_unique<SpoolWriter>(std::move(options), [h] { uv_async_send(&h->wake); });
    report_ = writer_->take();
}

Outbox::Outbox(uv_loop_t *loop, std::unique_ptr<SpoolStore> spool, int window, PublishFn publish)
    : loop_(loop), window_(window < 1 ? 1 : window), publish_(std::move(publish)),
      max_bytes_(spool->options().max_bytes), when_full_(spool->options().when_full) {
    queue_limit_bytes_ = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(max_bytes_),
                                                   kQueueMinBytes, kQueueMaxBytes);
    init_handles();
    auto *h = handles_;
    writer_ = std::make_unique<SpoolWriter>(std::move(spool), [h] { uv_async_send(&h->wake); });
    report_ = writer_->take();
    was_full_ = !has_room();
}

void Outbox::init_handles() {
    handles_ = new Handles;
    handles_->owner = this;
    uv_async_init(loop_, &handles_->wake, [](uv_async_t *a) {
        auto *h = static_cast<Handles *>(a->data);
        if (h->owner)
            h->owner->on_report();
    });
    handles_->wake.data = handles_;
    uv_timer_init(loop_, &handles_->timer);
    handles_->timer.data = handles_;
    // Neither keeps the loop running by itself; update_ref() holds it while the writer
    // has work of ours.
    uv_unref(reinterpret_cast<uv_handle_t *>(&handles_->wake));
    uv_unref(reinterpret_cast<uv_handle_t *>(&handles_->timer));
}

Outbox::~Outbox() {
    if (!handles_closed_) {
        writer_->detach(); // no wake-up from now on: the loop may not run again
        close_handles();
    }
    writer_.reset(); // writes what is queued, then joins
}

void Outbox::close_handles() {
    handles_closed_ = true;
    handles_->owner = nullptr;
    auto closed = [](uv_handle_t *handle) {
        auto *h = static_cast<Handles *>(handle->data);
        if (--h->open == 0)
            delete h;
    };
    for (auto *handle : {reinterpret_cast<uv_handle_t *>(&handles_->wake),
                         reinterpret_cast<uv_handle_t *>(&handles_->timer)})
        if (!uv_is_closing(handle))
            uv_close(handle, closed);
    handles_ = nullptr;
}

std::uint64_t Outbox::now_ms() const {
    return uv_now(loop_);
}

bool Outbox::put(std::string topic, std::string payload, EntryClass cls) {
    const std::uint64_t bytes = topic.size() + payload.size();
    if (queued_bytes() + bytes > queue_limit_bytes_) {
        if (queue_full_++ == 0)
            spdlog::error("spool {}: the disk cannot keep up ({} MiB queued for it); new entries "
                          "are dropped while it is so (counted in spool.dropped.write_failed)",
                          report_.where, queued_bytes() >> 20);
        was_full_ = true;
        return false;
    }
    writer_->put(std::move(topic), std::move(payload), cls, spool_now_ms());
    ++commands_sent_;
    ++puts_sent_;
    put_bytes_sent_ += bytes;
    if (!has_room())
        was_full_ = true;
    update_ref();
    return true;
}

bool Outbox::has_room() const {
    const bool room =
        report_.stats.bytes + queued_bytes() <= static_cast<std::uint64_t>(max_bytes_);
    if (!room)
        was_full_ = true;
    return room;
}

int Outbox::window() const {
    const int reserve = std::max(2, quota_ / 4);
    return std::clamp(quota_ - reserve, 1, window_);
}

void Outbox::connected(int broker_receive_maximum) {
    if (stopped_)
        return;
    // Whatever was out in the last session may or may not have arrived: send it again,
    // in order.
    if (!in_flight_.empty() || last_sent_ > 0)
        ++resent_sessions_;
    carry_in_flight();
    quota_ = broker_receive_maximum > 0 ? broker_receive_maximum : kClientDefaultQuota;
    online_ = true;
    request_read();
}

// libmosquitto sends the previous session's unacknowledged messages again by itself, with
// the same ids: they hold window slots until acknowledged (or kCarriedHoldMs). Their
// entries are sent again from the spool too (their PUBACKs are not taken as deliveries:
// after a new client the same ids may name other messages).
void Outbox::carry_in_flight() {
    const auto until = now_ms() + kCarriedHoldMs;
    for (const auto &[mid, flight] : in_flight_)
        carried_[mid] = until;
    in_flight_.clear();
    last_sent_ = 0;
    read_outstanding_ = false;
    ++read_id_;
    resume_from_ = std::numeric_limits<std::int64_t>::max();
    arm_timer();
}

void Outbox::request_read() {
    if (stopped_ || !online_ || paused_)
        return;
    const auto busy = in_flight_.size() + carried_.size();
    const auto room = static_cast<std::size_t>(window());
    if (busy >= room)
        return;
    const std::size_t want = room - busy;
    // A read on its way is replaced only when it would leave a quarter of the window
    // unused: each read is a hand-over to the writer thread.
    if (read_outstanding_ && want < read_max_ + std::max<std::size_t>(1, room / 4))
        return;
    read_outstanding_ = true;
    read_max_ = want;
    writer_->read(++read_id_, generation_, last_sent_, want);
}

void Outbox::on_report() {
    SpoolReport r = writer_->take();
    const bool answered = r.answered && r.read_id == read_id_;
    std::vector<SpoolEntry> entries = std::move(r.entries);
    const bool new_generation = r.generation != generation_;
    report_ = std::move(r);
    report_.entries.clear();
    if (new_generation) {
        // The entries moved to another store (the file came back): their seqs changed.
        generation_ = report_.generation;
        carry_in_flight();
        refusals_.clear();
    } else if (answered) {
        read_outstanding_ = false;
        publish(std::move(entries));
    }
    if (stopped_ && !handles_closed_ && report_.commands_done >= stop_target_) {
        auto done = std::move(on_stored_);
        writer_->detach();
        close_handles();
        if (done)
            done();
        return;
    }
    note_room();
    update_ref();
    request_read();
}

void Outbox::publish(std::vector<SpoolEntry> entries) {
    for (auto &e : entries) {
        if (e.seq <= last_sent_)
            continue; // sent already (an answer to a read that was replaced)
        if (stopped_ || !online_ || paused_ ||
            in_flight_.size() + carried_.size() >= static_cast<std::size_t>(window()))
            return;
        int mid = 0;
        const int rc = publish_(e.topic, e.payload, &mid);
        if (rc == 0) {
            in_flight_[mid] = {e.seq, generation_};
            last_sent_ = e.seq;
            ++sent_;
            continue;
        }
        if (unsendable(rc)) {
            // This entry can never go (larger than the broker's Maximum Packet Size, an
            // invalid topic): drop it, count it, go on with the next.
            if (!std::exchange(warned_oversize_, true))
                spdlog::warn("spool: an entry on {} ({} bytes) cannot be published: {}; dropped "
                             "(counted in spool.dropped.{}; further ones are not logged)",
                             e.topic, e.payload.size(), mosquitto_strerror(rc),
                             rc == MOSQ_ERR_OVERSIZE_PACKET ? "oversize" : "rejected");
            refuse(e.seq, generation_, rc == MOSQ_ERR_OVERSIZE_PACKET);
            last_sent_ = e.seq;
            continue;
        }
        online_ = false; // resumes from the oldest at the next connected()
        return;
    }
}

void Outbox::refuse(std::int64_t seq, std::uint64_t generation, bool oversize) {
    refusals_.erase(seq);
    writer_->rejected(generation, seq, oversize);
    ++commands_sent_;
    update_ref();
}

void Outbox::acknowledged(int mid, int reason) {
    auto it = in_flight_.find(mid);
    if (it == in_flight_.end()) {
        if (carried_.erase(mid) > 0)
            request_read(); // a slot of the previous session's is free
        return;
    }
    const Flight f = it->second;
    in_flight_.erase(it);
    switch (classify_puback(reason)) {
    case PubackVerdict::delivered:
        refusals_.erase(f.seq);
        writer_->delivered(f.generation, f.seq);
        ++commands_sent_;
        update_ref();
        break;
    case PubackVerdict::refused:
        // Refused for good: resending would stall every later entry behind it.
        spdlog::warn("spool: the broker refused an entry (reason 0x{:02x}); dropped and "
                     "counted in spool.dropped.rejected",
                     reason);
        refuse(f.seq, f.generation, false);
        break;
    case PubackVerdict::retry: {
        ++retried_;
        const int attempts = ++refusals_[f.seq];
        if (attempts >= kMaxTransientRefusals) {
            spdlog::warn("spool: the broker refused an entry {} times (last reason 0x{:02x}); "
                         "dropped and counted in spool.dropped.rejected",
                         attempts, reason);
            refuse(f.seq, f.generation, false);
        } else {
            pause_for(f.seq, attempts);
        }
        break;
    }
    }
    request_read();
}

// Refused for now (quota exceeded, a broker's passing trouble): stop sending for a while,
// then send again from that entry. Entries already out meanwhile keep their PUBACKs.
void Outbox::pause_for(std::int64_t seq, int attempts) {
    const std::uint64_t delay = std::min(kRetryMaxMs, kRetryFirstMs << std::min(attempts - 1, 16));
    if (!paused_)
        spdlog::info("spool: the broker refused an entry for now; sending again in {} ms", delay);
    paused_ = true;
    paused_until_ = std::max(paused_until_, now_ms() + delay);
    resume_from_ = std::min(resume_from_, seq);
    arm_timer();
}

void Outbox::arm_timer() {
    if (handles_closed_)
        return;
    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    if (paused_)
        next = paused_until_;
    for (const auto &[mid, until] : carried_)
        next = std::min(next, until);
    if (next == std::numeric_limits<std::uint64_t>::max()) {
        uv_timer_stop(&handles_->timer);
        return;
    }
    const auto now = now_ms();
    uv_timer_start(
        &handles_->timer,
        [](uv_timer_t *t) {
            auto *h = static_cast<Handles *>(t->data);
            if (h->owner)
                h->owner->on_timer();
        },
        next > now ? next - now : 0, 0);
}

void Outbox::on_timer() {
    const auto now = now_ms();
    if (paused_ && now >= paused_until_) {
        paused_ = false;
        if (resume_from_ <= last_sent_) {
            last_sent_ = resume_from_ - 1;
            read_outstanding_ = false;
            ++read_id_; // an answer on its way is for the old position
        }
        resume_from_ = std::numeric_limits<std::int64_t>::max();
    }
    for (auto it = carried_.begin(); it != carried_.end();)
        it = it->second <= now ? carried_.erase(it) : std::next(it);
    arm_timer();
    request_read();
}

void Outbox::note_room() {
    if (was_full_ && has_room()) {
        was_full_ = false;
        if (on_room)
            on_room();
    }
}

// The wake handle holds the loop while the writer has commands of ours to finish, so that
// the loop cannot end with a report still to come.
void Outbox::update_ref() {
    if (handles_closed_)
        return;
    auto *h = reinterpret_cast<uv_handle_t *>(&handles_->wake);
    if (commands_sent_ > report_.commands_done)
        uv_ref(h);
    else
        uv_unref(h);
}

nlohmann::json Outbox::status() const {
    const auto &s = report_.stats;
    nlohmann::json j = {{"storage", report_.unavailable.empty() ? report_.where : "memory"},
                        {"entries", s.entries},
                        {"bytes", s.bytes},
                        {"queued", puts_sent_ - report_.puts_done},
                        {"max_bytes", max_bytes_},
                        {"when_full", std::string(to_string(when_full_))},
                        {"window", window()},
                        {"in_flight", in_flight_.size()},
                        {"acked_not_deleted", report_.undeleted},
                        {"recovered", s.recovered},
                        {"stored", s.stored},
                        {"sent", sent_},
                        {"delivered", s.delivered},
                        {"resent_sessions", resent_sessions_},
                        {"retried", retried_},
                        {"batches", report_.batches},
                        {"dropped",
                         {{"oldest", s.dropped_oldest},
                          {"newest", s.dropped_newest},
                          {"telemetry", s.dropped_telemetry},
                          {"expired", s.expired},
                          {"write_failed", s.write_failed + queue_full_},
                          {"rejected", s.rejected},
                          {"oversize", s.oversize}}},
                        {"over_bound", s.over_bound}};
    if (!report_.unavailable.empty())
        j["error"] = report_.unavailable + "; holding entries in memory and trying again";
    if (!report_.failing.empty())
        j["failing"] = report_.failing;
    if (s.oldest_ms > 0)
        j["oldest_age_s"] = static_cast<double>(spool_now_ms() - s.oldest_ms) / 1000.0;
    return j;
}

void Outbox::stop(std::function<void()> on_stored) {
    if (stopped_)
        return;
    stopped_ = true;
    online_ = false;
    writer_->cancel_read();
    writer_->quiet();
    stop_target_ = commands_sent_;
    on_stored_ = std::move(on_stored);
    if (!handles_closed_)
        uv_timer_stop(&handles_->timer);
    if (report_.commands_done >= stop_target_) {
        auto done = std::move(on_stored_);
        writer_->detach();
        close_handles();
        if (done)
            done();
        return;
    }
    update_ref();
}

bool Outbox::flush(std::chrono::milliseconds timeout) {
    return writer_->wait_done(commands_sent_, timeout);
}

} // namespace tierd
