// LinkEstimator: what one upstream link (end -> edge, or end -> cloud) currently offers,
// from real measurements, for the scheduler: the uplink bandwidth, the round-trip time
// without transfer, and the wait in the serving agent's queue, each as an exponentially
// weighted moving average (EWMA) with its variance.
//
// Samples come from the replies to real offloads first (passive: they cost the link
// nothing), from link probes where real traffic gives none (a lone small probe for the
// rtt, a small then a large one for the bandwidth), and from the queue fields of the
// replies. probe_need() says what, if anything, a probe should measure now. Keep one
// estimator per upstream tier. Pure computation, no I/O, time passed in (ns of a monotonic
// clock, e.g. uv_hrtime()); not thread-safe: the loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tierd {

struct LinkEstimatorConfig {
    double alpha = 0.2;              // EWMA weight of a new sample, (0, 1]
    double max_bandwidth_bps = 10e9; // samples and "too fast to measure" floors cap here
    double min_delta_ms = 0.05;      // a time difference below this is not measurable
    // Steps. A bandwidth sample more than outlier_factor times off the estimate, or an rtt
    // sample more than rtt_outlier_factor times and rtt_outlier_min_ms off it, is an
    // outlier: alone it counts with alpha / outlier_alpha_divisor (a stall, a spike), but
    // outlier_run of them in a row on the same side are a step of the link (a drop, a
    // recovery) and the estimate restarts from them. With the client confirming an
    // outlier at once (probe_need), a step is followed within two samples.
    double outlier_factor = 2;
    double rtt_outlier_factor = 1.5;
    double rtt_outlier_min_ms = 2;
    double outlier_alpha_divisor = 4;
    int outlier_run = 2;
    // An outlier that no other sample has followed for this long asks for a probe.
    double confirm_after_ms = 150;
    std::size_t small_payload = 2048;  // before any rtt is known, an offload up to this
                                       // many bytes gives the first rtt sample
    std::size_t large_payload = 16384; // an offload from this many bytes up samples the
                                       // bandwidth whatever its transfer took
    // An offload whose transfer takes at least this long (at the estimate, or as its
    // network time over the rtt shows) samples the bandwidth; a shorter one the rtt.
    double passive_transfer_ms = 2.0;
    int degraded_after = 3; // consecutive timeouts that mark the link degraded
};

class LinkEstimator {
  public:
    // Unknown values: bandwidth 0, rtt / queue wait / queue depth / ages -1, stddevs 0.
    struct Estimate {
        double bandwidth_bps = 0;        // uplink, bits per second
        double bandwidth_stddev_bps = 0; // sqrt of the EWMA variance
        double rtt_ms = -1;              // round trip of a tiny message, transfer excluded
        double rtt_stddev_ms = 0;
        double queue_ms = -1; // EWMA of the wait at the serving agent
        int queue_depth = -1; // the last reported queue depth there
        std::uint64_t samples_rtt = 0, samples_bw = 0;
        std::uint64_t too_fast = 0; // transfers too quick to time: bandwidth >= a floor
        std::uint64_t timeouts = 0, errors = 0;
        int consecutive_timeouts = 0;
        bool degraded = false; // degraded_after timeouts in a row, until a success
        double age_ms = -1;    // since the last rtt or bandwidth sample
        // Since the last measurement that checked the bandwidth (a sample, a floor, or an
        // offload whose quick transfer agreed with the estimate) / the rtt (a sample).
        double bandwidth_age_ms = -1;
        double rtt_age_ms = -1;
        std::uint64_t bandwidth_checked_ns = 0; // when the bandwidth was last checked (0: never)
        // Bandwidth samples off the estimate (outliers) wait for another to tell a step
        // from a stall: the estimate may be about to jump.
        bool bandwidth_unconfirmed = false;
        bool connected() const { return !degraded; }
    };

    // What a probe of this link should measure now.
    enum class ProbeNeed {
        none,      // real traffic or recent probes keep both estimates fresh
        rtt,       // a lone small probe: on_probe()
        bandwidth, // a small probe, then a large one: on_probe_pair()
    };

    explicit LinkEstimator(LinkEstimatorConfig config = {});

    // A small probe (small_bytes on the wire, answered after small_rtt_ms) and a large one
    // (sent after the small one was answered, or right behind it). Bandwidth sample:
    // (large_bytes - small_bytes) * 8 / ((large_rtt_ms - small_rtt_ms) / 1000) when that
    // difference exceeds min_delta_ms; when it is smaller (or not positive), the link is at
    // least as fast as the payload difference over min_delta_ms (capped at
    // max_bandwidth_bps): a floor, which raises an estimate below it as a sample would (an
    // outlier first), and is not counted as a sample. Then the rtt sample: small_rtt_ms
    // minus small_bytes' transfer time at the (updated) bandwidth estimate, if known.
    // A success.
    void on_probe_pair(double small_rtt_ms, std::size_t small_bytes, double large_rtt_ms,
                       std::size_t large_bytes, std::uint64_t now_ns);

    // A lone small probe of `bytes` answered after rtt_ms: an rtt sample (minus the
    // transfer of `bytes` at the bandwidth estimate, if known). A success.
    void on_probe(double rtt_ms, std::size_t bytes, std::uint64_t now_ns);

    // An offload answered after round_trip_ms; remote_ms = the reply's compute_ms +
    // queue_ms (its time inside the serving agent; pass queue_ms as 0 when unknown), a
    // negative remote_ms gives no sample. network = round_trip_ms - remote_ms, and
    // transfer = network - rtt (the rtt estimate). Before any rtt is known: an rtt sample
    // when bytes_up <= small_payload. Then a bandwidth sample (bytes_up + bytes_down) * 8 /
    // (transfer / 1000) when bytes_up >= large_payload, when the transfer of those bytes
    // at the bandwidth estimate is at least passive_transfer_ms (a slow link), or when the
    // measured transfer exceeds that by at least passive_transfer_ms and 3 rtt stddevs (a
    // link that just became slow; a longer rtt looks the same, which the next rtt probe
    // sorts out); a transfer under
    // min_delta_ms there gives a floor as in on_probe_pair (a link that just became fast).
    // Otherwise an rtt sample (network minus the transfer at the estimate), and the
    // bandwidth counts as checked (the link moved the bytes as quickly as estimated). A
    // success.
    void on_offload(double round_trip_ms, double remote_ms, std::size_t bytes_up,
                    std::size_t bytes_down, std::uint64_t now_ns);

    // A reply's queue_ms (< 0: unknown, skipped) and queue_depth (< 0: unknown). A success.
    void on_queue(double queue_ms, int depth, std::uint64_t now_ns);

    // No reply in time; degraded_after of them in a row mark the link degraded.
    void on_timeout();
    // An error reply or a failed send: counted only.
    void on_error();

    Estimate estimate(std::uint64_t now_ns) const;

    // bandwidth when it is unknown, was last checked max_age_ms ago or more, or an outlier
    // of it has waited confirm_after_ms for confirmation; else rtt on the same terms; else
    // none.
    ProbeNeed probe_need(std::uint64_t now_ns, double max_age_ms) const;

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
    // An EWMA that tells a step from an outlier (see LinkEstimatorConfig): outliers are
    // judged against the estimate from before their run, which the damped updates move.
    struct Tracked {
        Ewma ewma;
        std::vector<double> run;     // the current run of outliers
        int side = 0;                // +1 above, -1 below reference
        double reference = 0;        // the estimate when the run began
        std::uint64_t run_at_ns = 0; // when its last outlier came
        std::uint64_t checked_ns = 0;
        bool checked = false;
    };
    enum class Quantity { bandwidth, rtt };

    // +1 / -1 when `x` is an outlier above / below `reference`, else 0.
    int outlier_side(Quantity q, double x, double reference) const;
    void add(Quantity q, double x, std::uint64_t now_ns);
    void add_bandwidth(double bps, std::uint64_t now_ns);
    // The link moves `bits` in under min_delta_ms: at least that fast.
    void bandwidth_floor(double bits, std::uint64_t now_ns);
    void add_rtt(double ms, std::uint64_t now_ns);
    void success();
    double transfer_ms(std::size_t bytes) const; // at the bandwidth estimate; 0 if unknown
    bool awaits_confirmation(const Tracked &t, std::uint64_t now_ns) const;

    LinkEstimatorConfig config_;
    Tracked bandwidth_, rtt_;
    Ewma queue_;
    int queue_depth_ = -1;
    std::uint64_t samples_rtt_ = 0, samples_bw_ = 0, too_fast_ = 0;
    std::uint64_t timeouts_ = 0, errors_ = 0;
    int consecutive_timeouts_ = 0;
    bool degraded_ = false;
    bool sampled_ = false;
    std::uint64_t last_sample_ns_ = 0;
};

} // namespace tierd
