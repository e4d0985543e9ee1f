#include "agent/loop/loop_lag.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace tierd {

int LagHistogram::bucket_of(uint64_t lag_us) {
    if (lag_us < 10)
        return static_cast<int>(lag_us);
    int decade = 0;
    uint64_t scale = 1;
    while (lag_us / scale >= 100) {
        scale *= 10;
        ++decade;
    }
    if (decade >= kDecades)
        return kBuckets - 1;
    return 10 + 90 * decade + static_cast<int>(lag_us / scale - 10);
}

// The largest value a bucket holds (the last one holds everything above it too).
uint64_t LagHistogram::upper_edge_us(int bucket) {
    if (bucket == kBuckets - 1)
        return UINT64_MAX;
    if (bucket < 10)
        return static_cast<uint64_t>(bucket);
    int decade = (bucket - 10) / 90;
    uint64_t leading = static_cast<uint64_t>((bucket - 10) % 90 + 10); // 10..99
    uint64_t scale = 1;
    for (int i = 0; i < decade; ++i)
        scale *= 10;
    return (leading + 1) * scale - 1;
}

void LagHistogram::record(uint64_t lag_us) {
    ++counts_[static_cast<size_t>(bucket_of(lag_us))];
    ++samples_;
    max_us_ = std::max(max_us_, lag_us);
}

void LagHistogram::clear() {
    counts_.fill(0);
    samples_ = 0;
    max_us_ = 0;
}

uint64_t LagHistogram::percentile_us(double fraction) const {
    if (samples_ == 0)
        return 0;
    auto rank = static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(samples_)));
    rank = std::clamp<uint64_t>(rank, 1, samples_);
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
        seen += counts_[static_cast<size_t>(b)];
        if (seen >= rank)
            return std::min(upper_edge_us(b), max_us_);
    }
    return max_us_;
}

LagSummary LagSummary::of(const LagHistogram &h) {
    LagSummary s;
    s.p50_ms = static_cast<double>(h.percentile_us(0.50)) / 1000.0;
    s.p99_ms = static_cast<double>(h.percentile_us(0.99)) / 1000.0;
    s.max_ms = static_cast<double>(h.max_us()) / 1000.0;
    s.samples = h.samples();
    return s;
}

nlohmann::json LagSummary::to_json() const {
    return {{"p50_ms", p50_ms}, {"p99_ms", p99_ms}, {"max_ms", max_ms}, {"samples", samples}};
}

LoopLag::LoopLag(uv_loop_t *loop, uint64_t interval_ms)
    : loop_(loop), interval_ms_(std::max<uint64_t>(interval_ms, 1)) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    // A metric must not be the reason the loop stays alive (nor delay a shutdown).
    uv_unref(reinterpret_cast<uv_handle_t *>(&timer_));
}

void LoopLag::start() {
    if (running_ || closed_)
        return;
    running_ = true;
    arm();
}

void LoopLag::arm() {
    // The loop's clock is cached at the start of each iteration; refresh it so that libuv
    // counts the interval from now, the same moment the deadline below counts from.
    uv_update_time(loop_);
    due_ns_ = uv_hrtime() + interval_ms_ * 1000000ULL;
    uv_timer_start(&timer_, &LoopLag::on_timer, interval_ms_, 0);
}

void LoopLag::on_timer(uv_timer_t *timer) {
    auto *self = static_cast<LoopLag *>(timer->data);
    uint64_t now_ns = uv_hrtime();
    uint64_t lag_us = now_ns > self->due_ns_ ? (now_ns - self->due_ns_) / 1000 : 0;
    self->since_start_.record(lag_us);
    self->period_.record(lag_us);
    self->arm();
}

LagSummary LoopLag::take_period() {
    LagSummary s = LagSummary::of(period_);
    period_.clear();
    return s;
}

nlohmann::json LoopLag::to_json() const {
    return {{"since_start", since_start().to_json()}, {"period", period().to_json()}};
}

void LoopLag::stop(std::function<void()> done) {
    if (closed_) {
        if (done)
            done();
        return;
    }
    running_ = false;
    closed_ = true;
    stop_done_ = std::move(done);
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t *>(&timer_), [](uv_handle_t *h) {
        auto *self = static_cast<LoopLag *>(h->data);
        if (self->stop_done_)
            std::exchange(self->stop_done_, nullptr)();
    });
}

} // namespace tierd
