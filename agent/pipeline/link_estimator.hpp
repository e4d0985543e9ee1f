// LinkEstimator: what one upstream link (end -> edge, or end -> cloud) currently offers,
// from real measurements, for the scheduler: the uplink bandwidth, the round-trip time
// without transfer, and the wait in the serving agent's queue, each as an exponentially
// weighted moving average (EWMA) with its variance.
//
// Samples come from probe pairs (a small and a large probe sent back to back), from the
// replies to real offloads, and from the queue fields of those replies. Keep one
// estimator per upstream tier. Pure computation, no I/O, time passed in (ns of a monotonic
// clock, e.g. uv_hrtime()); not thread-safe: the loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tierd {

struct LinkEstimatorConfig {
    double alpha = 0.2;                // EWMA weight of a new sample, (0, 1]
    double max_bandwidth_bps = 10e9;   // samples and "too fast to measure" floors cap here
    double min_delta_ms = 0.05;        // a time difference below this is not measurable
    double outlier_factor = 20;        // a bandwidth sample this many times off the estimate
    double outlier_alpha_divisor = 4;  // ... counts with alpha / this,
    int outlier_run = 3;               // ... unless this many in a row lie on the same side:
                                       // a step change, and the estimate restarts from them
    std::size_t small_payload = 2048;  // an offload up to this many bytes gives an rtt sample
    std::size_t large_payload = 16384; // one from this many bytes a bandwidth sample
    int degraded_after = 3;            // consecutive timeouts that mark the link degraded
};

class LinkEstimator {
  public:
    // Unknown values: bandwidth 0, rtt / queue wait / queue depth / age -1, stddevs 0.
    struct Estimate {
        double bandwidth_bps = 0;        // uplink, bits per second
        double bandwidth_stddev_bps = 0; // sqrt of the EWMA variance
        double rtt_ms = -1;              // round trip of a tiny message, transfer excluded
        double rtt_stddev_ms = 0;
        double queue_ms = -1; // EWMA of the wait at the serving agent
        int queue_depth = -1; // the last reported queue depth there
        std::uint64_t samples_rtt = 0, samples_bw = 0;
        std::uint64_t too_fast = 0; // probe pairs too close to time: bandwidth >= a floor
        std::uint64_t timeouts = 0, errors = 0;
        int consecutive_timeouts = 0;
        bool degraded = false; // degraded_after timeouts in a row, until a success
        double age_ms = -1;    // since the last rtt or bandwidth sample
        bool connected() const { return !degraded; }
    };

    explicit LinkEstimator(LinkEstimatorConfig config = {});

    // A small probe (small_bytes on the wire, answered after small_rtt_ms) and a large one
    // sent right after it. Bandwidth sample: (large_bytes - small_bytes) * 8 /
    // ((large_rtt_ms - small_rtt_ms) / 1000) when that difference exceeds min_delta_ms;
    // when it is smaller (or not positive: both replies came in one read), the link is at
    // least as fast as the payload difference over min_delta_ms (capped at max_bandwidth_bps): an
    // estimate below that floor is raised to it, no sample counted. Then the rtt sample:
    // small_rtt_ms minus small_bytes' transfer time at the (updated) bandwidth estimate, if known.
    // A success.
    void on_probe_pair(double small_rtt_ms, std::size_t small_bytes, double large_rtt_ms,
                       std::size_t large_bytes, std::uint64_t now_ns);

    // An offload answered after round_trip_ms; remote_ms = the reply's compute_ms +
    // queue_ms (its time inside the serving agent; pass queue_ms as 0 when unknown), a
    // negative remote_ms gives no sample. The network time round_trip_ms - remote_ms gives
    // an rtt sample when bytes_up <= small_payload (minus the transfer of bytes_up +
    // bytes_down at the bandwidth estimate, if known), and a bandwidth sample
    // (bytes_up + bytes_down) * 8 / ((network - rtt) / 1000) when bytes_up >= large_payload,
    // the rtt is known and network - rtt > min_delta_ms. A success.
    void on_offload(double round_trip_ms, double remote_ms, std::size_t bytes_up,
                    std::size_t bytes_down, std::uint64_t now_ns);

    // A reply's queue_ms (< 0: unknown, skipped) and queue_depth (< 0: unknown). A success.
    void on_queue(double queue_ms, int depth, std::uint64_t now_ns);

    // No reply in time; degraded_after of them in a row mark the link degraded.
    void on_timeout();
    // An error reply or a failed send: counted only.
    void on_error();

    Estimate estimate(std::uint64_t now_ns) const;

    // True when the bandwidth or the rtt moved by more than `threshold` (relative, e.g.
    // 0.2) from `previous`, became known or unknown, or the degraded flag flipped: the
    // scheduler should decide again.
    bool moved(const Estimate &previous, double threshold) const;

    // Expected network time of sending `bytes` and getting a small reply: rtt + transfer;
    // -1 while the rtt or the bandwidth is unknown.
    double predict_ms(std::size_t bytes) const;

  private:
    // Exponentially weighted mean and variance (Finch 2009): on a sample x,
    // d = x - mean, mean += a * d, var = (1 - a) * (var + a * d * d); the first sample
    // initialises mean = x, var = 0.
    struct Ewma {
        double mean = 0, var = 0;
        bool known = false;
        void add(double x, double a);
        void reset_to(double mean, double var);
    };

    // +1 / -1 when `bps` is more than outlier_factor above / below `reference`, else 0.
    int outlier_side(double bps, double reference) const;
    void add_bandwidth(double bps, std::uint64_t now_ns);
    void add_rtt(double ms, std::uint64_t now_ns);
    void success();
    double transfer_ms(std::size_t bytes) const; // at the bandwidth estimate; 0 if unknown

    LinkEstimatorConfig config_;
    Ewma bandwidth_, rtt_, queue_;
    int queue_depth_ = -1;
    std::vector<double> outliers_; // the current run of bandwidth outliers
    int outlier_side_ = 0;         // +1 above, -1 below outlier_reference_
    double outlier_reference_ = 0; // the estimate when the run began
    std::uint64_t samples_rtt_ = 0, samples_bw_ = 0, too_fast_ = 0;
    std::uint64_t timeouts_ = 0, errors_ = 0;
    int consecutive_timeouts_ = 0;
    bool degraded_ = false;
    bool sampled_ = false;
    std::uint64_t last_sample_ns_ = 0;
};

} // namespace tierd
