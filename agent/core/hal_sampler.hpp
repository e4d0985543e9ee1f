// Reads the HAL off the loop thread: a loop timer queues a read on libuv's worker pool
// (sysfs reads may block), and the result comes back on the loop, where it is kept as
// the latest snapshot and handed to a callback (telemetry). Loop thread only.
#pragma once

#include "hal/hal.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <functional>
#include <memory>

namespace tierd {

class HalSampler {
  public:
    // `hal` is shared with worker threads; Hal is thread-safe.
    HalSampler(uv_loop_t *loop, std::shared_ptr<hal::Hal> hal, uint64_t interval_ms);
    HalSampler(const HalSampler &) = delete;
    HalSampler &operator=(const HalSampler &) = delete;

    // Called on the loop with each new snapshot.
    std::function<void(const nlohmann::json &snapshot)> on_sample;

    // Samples at once, then every interval.
    void start();
    // Reads from `hal` (if not null) and at the new interval from now on.
    void reconfigure(std::shared_ptr<hal::Hal> hal, uint64_t interval_ms);
    // Stops the timer; a read already on a worker still completes (and is dropped).
    void stop();

    // The latest snapshot ({"hal": ..., "energy": ..., "sampled_ms": ...}); null before
    // the first read completes.
    const nlohmann::json &latest() const { return latest_; }

  private:
    struct Read;
    static void on_timer(uv_timer_t *timer);

    uv_loop_t *loop_;
    std::shared_ptr<hal::Hal> hal_;
    uint64_t interval_ms_;
    uv_timer_t timer_{};
    bool read_in_flight_ = false;
    bool stopped_ = false;
    nlohmann::json latest_;
};

} // namespace tierd
