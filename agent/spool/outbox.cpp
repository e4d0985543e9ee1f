#include "agent/spool/outbox.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace tierd {

namespace {
constexpr uint64_t kExpiryCheckMs = 1000;
constexpr int kReasonFailureFrom = 0x80; // MQTT 5: reason codes >= 0x80 are failures
} // namespace

Outbox::Outbox(uv_loop_t *loop, std::unique_ptr<Spool> spool, int window, PublishFn publish)
    : loop_(loop), spool_(std::move(spool)), window_(window < 1 ? 1 : window),
      publish_(std::move(publish)) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    uv_timer_start(&timer_, &Outbox::on_timer, kExpiryCheckMs, kExpiryCheckMs);
    // The timer alone must not keep the loop running at shutdown.
    uv_unref(reinterpret_cast<uv_handle_t *>(&timer_));
    was_full_ = !spool_->has_room();
}

Outbox::~Outbox() = default;

// Wall-clock time: entries carry it across restarts (the loop's clock starts anew).
std::int64_t Outbox::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Spool::Append Outbox::put(const std::string &topic, const std::string &payload) {
    auto verdict = spool_->append(topic, payload, now_ms());
    if (!spool_->has_room())
        was_full_ = true;
    pump();
    return verdict;
}

void Outbox::connected() {
    if (stopped_)
        return;
    // Whatever was out in the last session may or may not have arrived: send it again,
    // in order. Acks for the old message ids are no longer ours and are ignored.
    if (!in_flight_.empty() || last_sent_ > 0)
        ++resent_sessions_;
    in_flight_.clear();
    last_sent_ = 0;
    online_ = true;
    pump();
}

void Outbox::acknowledged(int mid, int reason) {
    auto it = in_flight_.find(mid);
    if (it == in_flight_.end())
        return;
    const std::int64_t seq = it->second;
    in_flight_.erase(it);
    if (reason >= kReasonFailureFrom) {
        // Refused for good (not authorized, topic invalid, quota...): resending would
        // stall every later entry behind it.
        spdlog::warn("spool: the broker refused an entry (reason 0x{:02x}); dropped and "
                     "counted in spool.rejected",
                     reason);
        spool_->rejected(seq);
    } else if (!spool_->delivered(seq)) {
        undeleted_.push_back(seq);
    }
    pump();
    if (was_full_ && spool_->has_room()) {
        was_full_ = false;
        if (on_room)
            on_room();
    }
}

void Outbox::pump() {
    if (stopped_ || !online_)
        return;
    while (static_cast<int>(in_flight_.size()) < window_) {
        auto batch = spool_->read_after(
            last_sent_, static_cast<std::size_t>(window_ - static_cast<int>(in_flight_.size())));
        if (batch.empty())
            return;
        for (const auto &e : batch) {
            int mid = 0;
            if (publish_(e.topic, e.payload, &mid) != 0) {
                online_ = false; // resumes from the oldest at the next connected()
                return;
            }
            in_flight_[mid] = e.seq;
            last_sent_ = e.seq;
            ++sent_;
        }
    }
}

void Outbox::on_timer(uv_timer_t *timer) {
    auto *self = static_cast<Outbox *>(timer->data);
    if (!self->undeleted_.empty()) {
        std::vector<std::int64_t> retry;
        retry.swap(self->undeleted_);
        for (auto seq : retry)
            if (!self->spool_->delivered(seq))
                self->undeleted_.push_back(seq);
    }
    if (auto n = self->spool_->expire(self->now_ms()); n > 0) {
        spdlog::warn("spool: {} entries older than {} s dropped undelivered", n,
                     self->spool_->options().max_age_ms / 1000);
        if (self->was_full_ && self->spool_->has_room()) {
            self->was_full_ = false;
            if (self->on_room)
                self->on_room();
        }
    }
}

nlohmann::json Outbox::status() const {
    const auto &s = spool_->stats();
    const auto &o = spool_->options();
    nlohmann::json j = {{"storage", spool_->where()},
                        {"entries", s.entries},
                        {"bytes", s.bytes},
                        {"max_bytes", o.max_bytes},
                        {"when_full", std::string(to_string(o.when_full))},
                        {"in_flight", in_flight_.size()},
                        {"acked_not_deleted", undeleted_.size()},
                        {"recovered", s.recovered},
                        {"stored", s.stored},
                        {"sent", sent_},
                        {"delivered", s.delivered},
                        {"resent_sessions", resent_sessions_},
                        {"dropped",
                         {{"oldest", s.dropped_oldest},
                          {"newest", s.dropped_newest},
                          {"expired", s.expired},
                          {"write_failed", s.write_failed},
                          {"rejected", s.rejected}}},
                        {"over_bound", s.over_bound}};
    if (s.oldest_ms > 0)
        j["oldest_age_s"] = static_cast<double>(now_ms() - s.oldest_ms) / 1000.0;
    return j;
}

void Outbox::stop() {
    if (stopped_)
        return;
    stopped_ = true;
    online_ = false;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t *>(&timer_), nullptr);
}

} // namespace tierd
