// LoopLag on a real libuv loop: a loop blocked on purpose shows the block as lag, an idle
// loop does not, and the period window restarts while "since start" keeps everything.
#include "agent/loop/loop_lag.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <vector>

namespace tierd {
namespace {

// Busy-waits (the loop thread does nothing else meanwhile, as with a slow callback).
void block_loop_for_ms(uint64_t ms) {
    uint64_t until = uv_hrtime() + ms * 1000000ULL;
    while (uv_hrtime() < until) {
    }
}

// A loop with a LoopLag sampling every 10 ms and a one-shot timer that runs `at` after
// `after_ms`; the loop stops when `stop` is set (checked by a second timer).
class LoopLagTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
    void TearDown() override {
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

    // Runs the loop for `ms` of loop time, calling `at` once after `at_ms`.
    void run_for_ms(uint64_t ms, uint64_t at_ms = 0, std::function<void()> at = {}) {
        uv_timer_t end{}, event{};
        uv_timer_init(&loop_, &end);
        uv_timer_start(
            &end, [](uv_timer_t *t) { uv_stop(t->loop); }, ms, 0);
        if (at) {
            uv_timer_init(&loop_, &event);
            event.data = &at;
            uv_timer_start(
                &event, [](uv_timer_t *t) { (*static_cast<std::function<void()> *>(t->data))(); },
                at_ms, 0);
        }
        uv_run(&loop_, UV_RUN_DEFAULT);
        uv_close(reinterpret_cast<uv_handle_t *>(&end), nullptr);
        if (at)
            uv_close(reinterpret_cast<uv_handle_t *>(&event), nullptr);
        uv_run(&loop_, UV_RUN_NOWAIT); // the close callbacks
    }

    // The timer's memory must outlive its close callback.
    void stop_and_wait(LoopLag &lag) {
        lag.stop();
        uv_run(&loop_, UV_RUN_NOWAIT);
    }

    uv_loop_t loop_{};
};

TEST_F(LoopLagTest, ABlockedLoopShowsTheBlockAsMaxLag) {
    LoopLag lag(&loop_, 10);
    lag.start();
    // The sampling timer comes due at most 10 ms after the block starts and runs when it
    // ends, so one sample is at least 45 - 10 - 1 (ms granularity) = 34 ms late.
    run_for_ms(300, 100, [] { block_loop_for_ms(45); });
    LagSummary s = lag.since_start();
    EXPECT_GE(s.max_ms, 30.0) << lag.to_json().dump();
    EXPECT_LT(s.max_ms, 1000.0);
    EXPECT_GE(s.samples, 5u);
    EXPECT_LE(s.p50_ms, s.max_ms);
    stop_and_wait(lag);
}

// The lateness of a plain repeating timer, computed the obvious way (fired - (armed +
// interval), all on uv_hrtime): the wake-up delay of this machine right now.
struct ReferenceTimer {
    explicit ReferenceTimer(uv_loop_t *loop) {
        uv_timer_init(loop, &timer);
        timer.data = this;
        arm();
    }
    void arm() {
        uv_update_time(timer.loop);
        expected_ns = uv_hrtime() + 10 * 1000000ULL;
        uv_timer_start(
            &timer,
            [](uv_timer_t *t) {
                auto *self = static_cast<ReferenceTimer *>(t->data);
                uint64_t now = uv_hrtime();
                self->lateness_ms.push_back(now > self->expected_ns
                                                ? static_cast<double>(now - self->expected_ns) / 1e6
                                                : 0.0);
                self->arm();
            },
            10, 0);
    }
    double median_ms() {
        std::sort(lateness_ms.begin(), lateness_ms.end());
        return lateness_ms.empty() ? 0.0 : lateness_ms[lateness_ms.size() / 2];
    }
    uv_timer_t timer{};
    uint64_t expected_ns = 0;
    std::vector<double> lateness_ms;
};

TEST_F(LoopLagTest, AnIdleLoopShowsOnlyTheMachinesWakeUpDelay) {
    LoopLag lag(&loop_, 10);
    lag.start();
    ReferenceTimer reference(&loop_);
    uint64_t started_ns = uv_hrtime();
    run_for_ms(1000);
    double elapsed_ms = static_cast<double>(uv_hrtime() - started_ns) / 1e6;
    LagSummary s = lag.since_start();
    // One sample per interval plus its lag: a metric that counted the interval itself as
    // lag would report about 10 ms more than the reference; one that lost samples would
    // have fewer than the elapsed time allows.
    ASSERT_GE(reference.lateness_ms.size(), 5u);
    double reference_ms = reference.median_ms();
    // The two differ by the loop's whole-millisecond deadline (up to 1 ms), the
    // histogram's two digits (up to 1 ms above 10 ms) and sampling noise on a loaded
    // machine; not by the 10 ms interval.
    EXPECT_NEAR(s.p50_ms, reference_ms, std::max(3.0, 0.2 * reference_ms)) << lag.to_json().dump();
    EXPECT_GE(static_cast<double>(s.samples), elapsed_ms / (10.0 + s.max_ms + 1.0) - 1.0);
    EXPECT_LE(static_cast<double>(s.samples), elapsed_ms / 10.0 + 1.0);
    EXPECT_LE(s.p50_ms, s.p99_ms);
    EXPECT_LE(s.p99_ms, s.max_ms);
    std::printf("idle loop: LoopLag %s; reference median %.3f ms over %zu wake-ups\n",
                lag.to_json()["since_start"].dump().c_str(), reference_ms,
                reference.lateness_ms.size());
    stop_and_wait(lag);
}

TEST_F(LoopLagTest, APeriodRestartsWhileSinceStartKeepsEverything) {
    LoopLag lag(&loop_, 10);
    lag.start();
    run_for_ms(200, 50, [] { block_loop_for_ms(45); });
    LagSummary first = lag.take_period();
    EXPECT_GE(first.max_ms, 30.0);
    EXPECT_GT(first.samples, 0u);
    EXPECT_EQ(lag.period().samples, 0u);
    EXPECT_EQ(lag.period().max_ms, 0.0);

    run_for_ms(200);
    LagSummary second = lag.period();
    EXPECT_GT(second.samples, 0u);
    LagSummary all = lag.since_start();
    EXPECT_EQ(all.samples, first.samples + second.samples);
    EXPECT_EQ(all.max_ms, std::max(first.max_ms, second.max_ms));

    nlohmann::json j = lag.to_json();
    for (const char *window : {"since_start", "period"})
        for (const char *key : {"p50_ms", "p99_ms", "max_ms", "samples"})
            EXPECT_TRUE(j[window].contains(key)) << window << "." << key << ": " << j.dump();
    EXPECT_EQ(j["since_start"]["samples"].get<uint64_t>(), all.samples);
    stop_and_wait(lag);
}

TEST_F(LoopLagTest, StopClosesTheTimerAndKeepsTheFigures) {
    LoopLag lag(&loop_, 10);
    lag.start();
    run_for_ms(100);
    bool closed = false;
    lag.stop([&closed] { closed = true; });
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_TRUE(closed);
    uint64_t samples = lag.since_start().samples;
    EXPECT_GT(samples, 0u);
    run_for_ms(100);
    EXPECT_EQ(lag.since_start().samples, samples);
}

TEST_F(LoopLagTest, DoesNotKeepTheLoopAlive) {
    LoopLag lag(&loop_, 10);
    lag.start();
    // Nothing else is active: uv_run returns at once instead of sampling forever.
    EXPECT_EQ(uv_run(&loop_, UV_RUN_DEFAULT), 0);
    stop_and_wait(lag);
}

TEST(LagHistogram, PercentilesAreNearestRankWithTwoSignificantDigits) {
    LagHistogram h;
    EXPECT_EQ(h.percentile_us(0.5), 0u);
    for (uint64_t v = 1; v <= 100; ++v)
        h.record(v * 1000); // 1..100 ms
    EXPECT_EQ(h.samples(), 100u);
    EXPECT_EQ(h.max_us(), 100000u);
    // Nearest rank: the 50th value is 50 ms, the 99th 99 ms; reported as the upper edge
    // of their bucket (50.0-50.9 ms, 99.0-99.9 ms).
    EXPECT_EQ(h.percentile_us(0.50), 50999u);
    EXPECT_EQ(h.percentile_us(0.99), 99999u);
    EXPECT_EQ(h.percentile_us(1.0), 100000u); // capped at the exact max
    h.clear();
    h.record(7);
    EXPECT_EQ(h.percentile_us(0.99), 7u); // below 10 µs: exact
    h.record(1'000'000'000'000ULL);       // 11.6 days: past the last bucket, max exact
    EXPECT_EQ(h.max_us(), 1'000'000'000'000ULL);
    EXPECT_EQ(h.percentile_us(1.0), 1'000'000'000'000ULL);
    EXPECT_EQ(h.percentile_us(0.5), 7u);
}

} // namespace
} // namespace tierd
