// Loop lag: how late the event loop runs what is due, as libuv users track it (a timer's
// drift). The agent reports it in its status (since start) and telemetry (per period).
//
// What exactly is measured. A one-shot libuv timer is armed for `interval_ms`; when its
// callback runs, one sample is taken: the time it ran minus the time it was due, both on
// uv_hrtime's clock; then it is armed again. "Due" is the arming moment plus the interval.
// The loop's cached clock is refreshed (uv_update_time) right before arming, so that
// libuv, too, counts the interval from that moment and not from the start of the loop
// iteration, which may be long past when a slow callback ran first. A sample therefore
// says how long a callback that became due at that moment waited behind the loop's other
// work: any timer, and any socket event, waited about as long. The metric samples once
// per firing: while the loop is blocked no sample is taken, and a block of 300 ms yields
// one sample of up to 300 ms, so long blocks show in max_ms (and in p99_ms only when they
// are frequent). This is what libuv users call loop lag or event-loop delay (Node's
// monitorEventLoopDelay takes the same difference).
//
// Resolution. libuv keeps timer deadlines in whole milliseconds of its clock, so a timer
// may run up to 1 ms before or after the exact deadline (early runs count as 0). Even an
// empty loop is late by what the machine adds (a VM's vCPU waking, a core shared with
// other threads): bench/loop_lag's "floor" measures it beside the agent. Percentiles come from a histogram with two significant
// digits and are the upper edge of their bucket (at most 10% high, never above max_ms);
// max_ms is exact.
//
// Threads: everything runs on the loop thread, including the getters.
#pragma once

#include <nlohmann/json.hpp>
#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>

namespace tierd {

// Counts of lag samples in microseconds, two significant digits, from 0 to ~2.7 hours
// (larger values land in the last bucket; max_us() stays exact).
class LagHistogram {
  public:
    void record(uint64_t lag_us);
    void clear();
    uint64_t samples() const { return samples_; }
    uint64_t max_us() const { return max_us_; }
    // The smallest bucket edge at or above `fraction` (0..1] of the samples (nearest rank),
    // capped at max_us(); 0 with no samples.
    uint64_t percentile_us(double fraction) const;

  private:
    // 0..9 µs one bucket each; then 90 buckets per decade (10..99 × 10^d µs).
    static constexpr int kDecades = 9;
    static constexpr int kBuckets = 10 + 90 * kDecades;
    static int bucket_of(uint64_t lag_us);
    static uint64_t upper_edge_us(int bucket);

    std::array<uint64_t, kBuckets> counts_{};
    uint64_t samples_ = 0;
    uint64_t max_us_ = 0;
};

// One window of samples as reported: {"p50_ms", "p99_ms", "max_ms", "samples"}.
struct LagSummary {
    double p50_ms = 0;
    double p99_ms = 0;
    double max_ms = 0;
    uint64_t samples = 0;

    static LagSummary of(const LagHistogram &h);
    nlohmann::json to_json() const;
};

class LoopLag {
  public:
    static constexpr uint64_t kDefaultIntervalMs = 10;

    // Call on the loop thread. Takes no sample until start().
    explicit LoopLag(uv_loop_t *loop, uint64_t interval_ms = kDefaultIntervalMs);
    // The timer must have been closed (stop() and its `done`), or the loop's handles walked
    // and closed by the owner, before the LoopLag goes.
    ~LoopLag() = default;
    LoopLag(const LoopLag &) = delete;
    LoopLag &operator=(const LoopLag &) = delete;

    // Starts sampling. The timer is unreferenced: it never keeps the loop alive by itself.
    void start();
    // Stops sampling and closes the timer; `done` (may be empty) runs on the loop once it
    // is closed. The figures stay readable.
    void stop(std::function<void()> done = {});

    LagSummary since_start() const { return LagSummary::of(since_start_); }
    LagSummary period() const { return LagSummary::of(period_); }
    // The current period's summary; a new period starts empty (call once per telemetry
    // document).
    LagSummary take_period();
    // {"since_start": {...}, "period": {...}} (the period so far, not reset).
    nlohmann::json to_json() const;

  private:
    static void on_timer(uv_timer_t *timer);
    void arm();

    uv_loop_t *loop_;
    uint64_t interval_ms_;
    uv_timer_t timer_{};
    bool running_ = false;
    bool closed_ = false;
    uint64_t due_ns_ = 0; // the armed timer's deadline on uv_hrtime's clock
    LagHistogram since_start_;
    LagHistogram period_;
    std::function<void()> stop_done_;
};

} // namespace tierd
