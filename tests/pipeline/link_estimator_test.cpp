// LinkEstimator: the bandwidth and rtt estimates from probe pairs and offloads, their
// EWMA and variance, the outlier guard, step tracking, degradation and moved().
#include "agent/pipeline/link_estimator.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace tierd {
namespace {

constexpr std::uint64_t kMs = 1000000; // ns

// A probe pair over a link of `bps` with a pure round trip of `rtt_ms`: 100 and 100100
// bytes, so each pair measures the bandwidth exactly.
void probe(LinkEstimator &link, double bps, double rtt_ms, std::uint64_t now) {
    const auto ms = [bps](double bytes) { return bytes * 8 / bps * 1000; };
    link.on_probe_pair(rtt_ms + ms(100), 100, rtt_ms + ms(100100), 100100, now);
}

TEST(LinkEstimator, StartsUnknown) {
    LinkEstimator link;
    const auto e = link.estimate(5 * kMs);
    EXPECT_EQ(e.bandwidth_bps, 0);
    EXPECT_EQ(e.bandwidth_stddev_bps, 0);
    EXPECT_EQ(e.rtt_ms, -1);
    EXPECT_EQ(e.rtt_stddev_ms, 0);
    EXPECT_EQ(e.queue_ms, -1);
    EXPECT_EQ(e.queue_depth, -1);
    EXPECT_EQ(e.samples_rtt, 0u);
    EXPECT_EQ(e.samples_bw, 0u);
    EXPECT_FALSE(e.degraded);
    EXPECT_TRUE(e.connected());
    EXPECT_EQ(e.age_ms, -1);
    EXPECT_EQ(link.predict_ms(1000), -1);
}

TEST(LinkEstimator, ProbePairMath) {
    LinkEstimator link;
    // 100000 bytes more in 8 ms more: 800000 bits / 0.008 s = 100 Mbit/s; the small probe's
    // 800 bits take 0.008 ms of its 2 ms.
    link.on_probe_pair(2.0, 100, 10.0, 100100, 10 * kMs);
    auto e = link.estimate(13 * kMs);
    EXPECT_DOUBLE_EQ(e.bandwidth_bps, 1e8);
    EXPECT_DOUBLE_EQ(e.bandwidth_stddev_bps, 0);
    EXPECT_NEAR(e.rtt_ms, 1.992, 1e-12);
    EXPECT_EQ(e.rtt_stddev_ms, 0);
    EXPECT_EQ(e.samples_bw, 1u);
    EXPECT_EQ(e.samples_rtt, 1u);
    EXPECT_DOUBLE_EQ(e.age_ms, 3.0);
    EXPECT_NEAR(link.predict_ms(1250), 1.992 + 0.1, 1e-12); // 10000 bits at 100 Mbit/s

    // Second pair: 4 ms for 800000 bits = 200 Mbit/s. mean = 1e8 + 0.2 * 1e8 = 1.2e8,
    // var = 0.8 * (0 + 0.2 * 1e8 * 1e8) = 1.6e15, stddev 4e7. The rtt sample: 3 ms minus
    // 800 bits at 120 Mbit/s = 3 - 1/150 ms; mean = 1.992 + 0.2 * (that - 1.992).
    link.on_probe_pair(3.0, 100, 7.0, 100100, 20 * kMs);
    e = link.estimate(20 * kMs);
    EXPECT_DOUBLE_EQ(e.bandwidth_bps, 1.2e8);
    EXPECT_NEAR(e.bandwidth_stddev_bps, 4e7, 1e-3);
    const double rtt2 = 3.0 - 1.0 / 150;
    EXPECT_NEAR(e.rtt_ms, 1.992 + 0.2 * (rtt2 - 1.992), 1e-12);
    EXPECT_NEAR(e.rtt_stddev_ms, std::sqrt(0.8 * 0.2 * (rtt2 - 1.992) * (rtt2 - 1.992)), 1e-12);
    EXPECT_EQ(e.age_ms, 0);
}

TEST(LinkEstimator, ProbePairTooFastToMeasureGivesAFloor) {
    LinkEstimatorConfig config;
    config.max_bandwidth_bps = 1e9;
    LinkEstimator link(config);
    // 1000 bytes more in 0.03 ms: not measurable; the link does 8000 bits in < 0.05 ms,
    // so >= 160 Mbit/s.
    link.on_probe_pair(1.0, 100, 1.03, 1100, 0);
    auto e = link.estimate(0);
    EXPECT_DOUBLE_EQ(e.bandwidth_bps, 1.6e8);
    EXPECT_EQ(e.samples_bw, 0u);
    EXPECT_EQ(e.too_fast, 1u);
    EXPECT_NEAR(e.rtt_ms, 1.0 - 800 / 1.6e8 * 1000, 1e-12);
    // A higher estimate is kept.
    probe(link, 5e8, 1.0, 1);
    const double measured = link.estimate(1).bandwidth_bps; // 1.6e8 + 0.2 * 3.4e8
    EXPECT_DOUBLE_EQ(measured, 2.28e8);
    link.on_probe_pair(1.0, 100, 1.03, 1100, 2);
    EXPECT_DOUBLE_EQ(link.estimate(2).bandwidth_bps, measured);
    // A floor above the maximum is capped there.
    link.on_probe_pair(1.0, 100, 1.01, 10000100, 3);
    e = link.estimate(3);
    EXPECT_DOUBLE_EQ(e.bandwidth_bps, 1e9);
    EXPECT_EQ(e.too_fast, 3u);
    // The large probe answered first (both replies in one read): as fast as can be seen,
    // a floor again, not a sample.
    link.on_probe_pair(1.0, 100, 0.9, 100100, 4);
    EXPECT_EQ(link.estimate(4).too_fast, 4u);
    EXPECT_EQ(link.estimate(4).samples_bw, 1u);
    EXPECT_DOUBLE_EQ(link.estimate(4).bandwidth_bps, 1e9);
}

TEST(LinkEstimator, ConvergesOnAConstantLinkWithoutVariance) {
    LinkEstimator link;
    for (int i = 0; i < 50; ++i)
        probe(link, 25e6, 12.0, static_cast<std::uint64_t>(i) * kMs);
    const auto e = link.estimate(50 * kMs);
    EXPECT_NEAR(e.bandwidth_bps, 25e6, 1e-3);
    EXPECT_NEAR(e.bandwidth_stddev_bps, 0, 1e-3);
    EXPECT_NEAR(e.rtt_ms, 12.0, 1e-9);
    EXPECT_NEAR(e.rtt_stddev_ms, 0, 1e-6);
    EXPECT_EQ(e.samples_bw, 50u);
    EXPECT_EQ(e.samples_rtt, 50u);
    EXPECT_DOUBLE_EQ(e.age_ms, 1.0);
}

TEST(LinkEstimator, NoisySamplesGiveAVariance) {
    LinkEstimator link;
    std::mt19937 rng(11);
    std::normal_distribution<double> bw(50e6, 5e6), rtt(20.0, 2.0);
    for (int i = 0; i < 400; ++i)
        probe(link, bw(rng), rtt(rng), static_cast<std::uint64_t>(i) * kMs);
    const auto e = link.estimate(400 * kMs);
    EXPECT_NEAR(e.bandwidth_bps, 50e6, 10e6);
    EXPECT_GT(e.bandwidth_stddev_bps, 1e6);
    EXPECT_LT(e.bandwidth_stddev_bps, 15e6);
    EXPECT_NEAR(e.rtt_ms, 20.0, 3.0);
    EXPECT_GT(e.rtt_stddev_ms, 0.5);
    EXPECT_LT(e.rtt_stddev_ms, 5.0);
}

TEST(LinkEstimator, OneStallIsDamped) {
    LinkEstimator link;
    for (int i = 0; i < 20; ++i)
        probe(link, 100e6, 5.0, 0);
    // A stall that looks like 1 Mbit/s (100x off) counts with alpha / 4 = 0.05.
    probe(link, 1e6, 5.0, 0);
    EXPECT_NEAR(link.estimate(0).bandwidth_bps, 100e6 - 0.05 * 99e6, 1e3);
    // A second one in a row too; then normal samples pull it back.
    probe(link, 1e6, 5.0, 0);
    EXPECT_GT(link.estimate(0).bandwidth_bps, 89e6);
    for (int i = 0; i < 15; ++i)
        probe(link, 100e6, 5.0, 0);
    EXPECT_GT(link.estimate(0).bandwidth_bps, 97e6);
    // Without the guard (factor so large nothing is an outlier) one stall costs 20 %.
    LinkEstimatorConfig plain;
    plain.outlier_factor = 1e9;
    LinkEstimator naive(plain);
    for (int i = 0; i < 20; ++i)
        probe(naive, 100e6, 5.0, 0);
    probe(naive, 1e6, 5.0, 0);
    EXPECT_LT(naive.estimate(0).bandwidth_bps, 81e6);
}

TEST(LinkEstimator, TracksAStepDownAndBackUp) {
    LinkEstimator link;
    for (int i = 0; i < 30; ++i)
        probe(link, 100e6, 5.0, 0);
    int n = 0;
    while (std::fabs(link.estimate(0).bandwidth_bps - 1e6) > 0.1e6 && n < 100) {
        probe(link, 1e6, 5.0, 0);
        ++n;
    }
    EXPECT_LE(n, 10) << "100 -> 1 Mbit/s took " << n << " samples";
    EXPECT_NEAR(link.estimate(0).bandwidth_bps, 1e6, 0.1e6);
    n = 0;
    while (std::fabs(link.estimate(0).bandwidth_bps - 100e6) > 10e6 && n < 100) {
        probe(link, 100e6, 5.0, 0);
        ++n;
    }
    EXPECT_LE(n, 10) << "1 -> 100 Mbit/s took " << n << " samples";
    // A 4x step (within the outlier factor) is followed by the plain EWMA: after 10
    // samples 0.8^10 = 10.7 % of the step is left.
    for (int i = 0; i < 10; ++i)
        probe(link, 25e6, 5.0, 0);
    const double left = link.estimate(0).bandwidth_bps - 25e6;
    EXPECT_GT(left, 0);
    EXPECT_LT(left, 0.11 * 75e6);
}

TEST(LinkEstimator, OffloadsGiveSamples) {
    LinkEstimator link;
    // A small offload with no bandwidth known: its network time is the rtt.
    link.on_offload(30.0, 12.0, 1500, 200, 1 * kMs);
    auto e = link.estimate(1 * kMs);
    EXPECT_DOUBLE_EQ(e.rtt_ms, 18.0);
    EXPECT_EQ(e.samples_bw, 0u);
    // A large one: (network - rtt) is the transfer of 100000 + 1000 bytes.
    // 18 ms rtt + 808000 bits at 10 Mbit/s (80.8 ms) + 10 ms remote.
    link.on_offload(18.0 + 80.8 + 10.0, 10.0, 100000, 1000, 2 * kMs);
    e = link.estimate(2 * kMs);
    EXPECT_NEAR(e.bandwidth_bps, 10e6, 1e-3);
    EXPECT_EQ(e.samples_bw, 1u);
    EXPECT_EQ(e.samples_rtt, 1u);
    // Small again: the transfer of 1700 bytes at 10 Mbit/s (1.36 ms) comes off.
    link.on_offload(20.0 + 1.36 + 5.0, 5.0, 1500, 200, 3 * kMs);
    e = link.estimate(3 * kMs);
    EXPECT_NEAR(e.rtt_ms, 18.0 + 0.2 * (20.0 - 18.0), 1e-9);
    EXPECT_EQ(e.samples_rtt, 2u);
    // Mid-sized payloads, a transfer too short to time and impossible timings give none.
    link.on_offload(40.0, 5.0, 8000, 200, 4 * kMs);
    link.on_offload(18.4 + 10.0 + 0.01, 10.0, 20000, 100, 4 * kMs);
    link.on_offload(5.0, 10.0, 1500, 200, 4 * kMs);
    link.on_offload(5.0, -1.0, 1500, 200, 4 * kMs);
    e = link.estimate(4 * kMs);
    EXPECT_EQ(e.samples_rtt, 2u);
    EXPECT_EQ(e.samples_bw, 1u);
    EXPECT_DOUBLE_EQ(e.age_ms, 1.0);

    // A large offload before any rtt is known gives no bandwidth sample.
    LinkEstimator fresh;
    fresh.on_offload(100.0, 10.0, 100000, 100, 0);
    EXPECT_EQ(fresh.estimate(0).samples_bw, 0u);
}

TEST(LinkEstimator, QueueWaitIsAveraged) {
    LinkEstimator link;
    link.on_queue(10.0, 3, 0);
    link.on_queue(20.0, 1, 0);
    link.on_queue(-1.0, -1, 0); // unknown: ignored
    const auto e = link.estimate(0);
    EXPECT_DOUBLE_EQ(e.queue_ms, 12.0);
    EXPECT_EQ(e.queue_depth, 1);
    EXPECT_EQ(e.age_ms, -1); // not a link sample
}

TEST(LinkEstimator, DegradedAfterThreeTimeoutsUntilASuccess) {
    LinkEstimator link;
    probe(link, 10e6, 20.0, 0);
    link.on_timeout();
    link.on_timeout();
    link.on_error(); // counted, not a timeout and not a success
    EXPECT_FALSE(link.estimate(0).degraded);
    link.on_timeout();
    auto e = link.estimate(0);
    EXPECT_TRUE(e.degraded);
    EXPECT_FALSE(e.connected());
    EXPECT_EQ(e.timeouts, 3u);
    EXPECT_EQ(e.errors, 1u);
    EXPECT_EQ(e.consecutive_timeouts, 3);
    EXPECT_DOUBLE_EQ(e.bandwidth_bps, 10e6); // the estimates stay
    link.on_timeout();
    EXPECT_TRUE(link.estimate(0).degraded);
    link.on_offload(25.0, 5.0, 1000, 100, 0);
    e = link.estimate(0);
    EXPECT_FALSE(e.degraded);
    EXPECT_EQ(e.consecutive_timeouts, 0);
    EXPECT_EQ(e.timeouts, 4u);
    // Two timeouts, a success, two more: not three in a row.
    link.on_timeout();
    link.on_timeout();
    link.on_queue(1.0, 0, 0);
    link.on_timeout();
    link.on_timeout();
    EXPECT_FALSE(link.estimate(0).degraded);
    link.on_timeout();
    EXPECT_TRUE(link.estimate(0).degraded);
    probe(link, 10e6, 20.0, 0);
    EXPECT_FALSE(link.estimate(0).degraded);
}

TEST(LinkEstimator, MovedReportsRelativeChanges) {
    LinkEstimator link;
    const auto unknown = link.estimate(0);
    EXPECT_FALSE(link.moved(unknown, 0.1));
    probe(link, 100e6, 10.0, 0);
    EXPECT_TRUE(link.moved(unknown, 0.1)); // became known
    const auto base = link.estimate(0);
    EXPECT_FALSE(link.moved(base, 0.1));
    probe(link, 140e6, 10.0, 0); // bandwidth + 8 %
    EXPECT_FALSE(link.moved(base, 0.1));
    EXPECT_TRUE(link.moved(base, 0.05));
    const auto mid = link.estimate(0);
    probe(link, 108e6, 13.0, 0); // rtt + 6 %, bandwidth ~ -0.6 %
    EXPECT_TRUE(link.moved(mid, 0.05));
    EXPECT_FALSE(link.moved(mid, 0.1));
    const auto before = link.estimate(0);
    link.on_timeout();
    link.on_timeout();
    EXPECT_FALSE(link.moved(before, 0.1));
    link.on_timeout(); // degraded
    EXPECT_TRUE(link.moved(before, 0.1));
}

} // namespace
} // namespace tierd
