#include "agent/pipeline/link_estimator.hpp"

#include <algorithm>
#include <cmath>

namespace tierd {
namespace {

bool usable(double v) {
    return std::isfinite(v) && v >= 0.0;
}

double ms_between(std::uint64_t from_ns, std::uint64_t to_ns) {
    return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e6 : 0.0;
}

} // namespace

void LinkEstimator::Ewma::add(double x, double a) {
    if (!known) {
        reset_to(x, 0.0);
        return;
    }
    const double d = x - mean;
    mean += a * d;
    var = (1.0 - a) * (var + a * d * d);
}

void LinkEstimator::Ewma::reset_to(double m, double v) {
    mean = m;
    var = v;
    known = true;
}

LinkEstimator::LinkEstimator(LinkEstimatorConfig config) : config_(config) {
    config_.alpha = std::clamp(config_.alpha, 1e-6, 1.0);
    config_.outlier_alpha_divisor = std::max(config_.outlier_alpha_divisor, 1.0);
    config_.outlier_factor = std::max(config_.outlier_factor, 1.0);
    config_.rtt_outlier_factor = std::max(config_.rtt_outlier_factor, 1.0);
    config_.rtt_outlier_min_ms = std::max(config_.rtt_outlier_min_ms, 0.0);
    config_.outlier_run = std::max(config_.outlier_run, 1);
    config_.degraded_after = std::max(config_.degraded_after, 1);
}

double LinkEstimator::transfer_ms(std::size_t bytes) const {
    if (!bandwidth_.ewma.known || !(bandwidth_.ewma.mean > 0.0))
        return 0.0;
    return static_cast<double>(bytes) * 8.0 / bandwidth_.ewma.mean * 1000.0;
}

void LinkEstimator::success() {
    consecutive_timeouts_ = 0;
    degraded_ = false;
}

int LinkEstimator::outlier_side(Quantity q, double x, double reference) const {
    if (q == Quantity::bandwidth) {
        if (x > reference * config_.outlier_factor)
            return 1;
        if (x * config_.outlier_factor < reference)
            return -1;
        return 0;
    }
    const double margin =
        std::max(reference * (config_.rtt_outlier_factor - 1.0), config_.rtt_outlier_min_ms);
    if (x > reference + margin)
        return 1;
    if (x < reference - margin)
        return -1;
    return 0;
}

void LinkEstimator::add(Quantity q, double x, std::uint64_t now_ns) {
    Tracked &t = q == Quantity::bandwidth ? bandwidth_ : rtt_;
    t.checked = true;
    t.checked_ns = now_ns;
    if (!t.ewma.known) {
        t.ewma.reset_to(x, 0.0);
        return;
    }
    double reference = t.run.empty() ? t.ewma.mean : t.reference;
    int side = outlier_side(q, x, reference);
    if (side != 0 && !t.run.empty() && side != t.side) { // the other side: a new run
        t.run.clear();
        reference = t.ewma.mean;
        side = outlier_side(q, x, reference);
    }
    if (side == 0) {
        t.run.clear();
        t.ewma.add(x, config_.alpha);
        return;
    }
    if (t.run.empty()) {
        t.reference = reference;
        t.side = side;
    }
    t.run.push_back(x);
    t.run_at_ns = now_ns;
    if (t.run.size() < static_cast<std::size_t>(config_.outlier_run)) {
        t.ewma.add(x, config_.alpha / config_.outlier_alpha_divisor);
        return;
    }
    // A run of outliers on one side is a step of the link, not a stall: restart from it.
    double mean = 0.0, var = 0.0;
    for (double v : t.run)
        mean += v;
    mean /= static_cast<double>(t.run.size());
    for (double v : t.run)
        var += (v - mean) * (v - mean);
    var /= static_cast<double>(t.run.size());
    t.ewma.reset_to(mean, var);
    t.run.clear();
}

void LinkEstimator::add_bandwidth(double bps, std::uint64_t now_ns) {
    if (!std::isfinite(bps) || !(bps > 0.0))
        return;
    ++samples_bw_;
    sampled_ = true;
    last_sample_ns_ = now_ns;
    add(Quantity::bandwidth, std::min(bps, config_.max_bandwidth_bps), now_ns);
}

void LinkEstimator::bandwidth_floor(double bits, std::uint64_t now_ns) {
    ++too_fast_;
    const double floor =
        std::min(bits / (config_.min_delta_ms / 1000.0), config_.max_bandwidth_bps);
    if (bandwidth_.ewma.known && bandwidth_.ewma.mean >= floor) {
        // The estimate already says as much; whatever outlier run was open did not go on.
        bandwidth_.run.clear();
        bandwidth_.checked = true;
        bandwidth_.checked_ns = now_ns;
        return;
    }
    // Faster than estimated: the floor counts as a sample would (a lone one damped, two in
    // a row a step up: a recovery), without being counted as one.
    add(Quantity::bandwidth, floor, now_ns);
}

void LinkEstimator::add_rtt(double ms, std::uint64_t now_ns) {
    if (!std::isfinite(ms))
        return;
    ++samples_rtt_;
    sampled_ = true;
    last_sample_ns_ = now_ns;
    add(Quantity::rtt, std::max(ms, 0.0), now_ns);
}

void LinkEstimator::on_probe_pair(double small_rtt_ms, std::size_t small_bytes, double large_rtt_ms,
                                  std::size_t large_bytes, std::uint64_t now_ns) {
    success();
    if (!usable(small_rtt_ms))
        return;
    if (usable(large_rtt_ms) && large_bytes > small_bytes) {
        const double bits = static_cast<double>(large_bytes - small_bytes) * 8.0;
        const double delta_ms = large_rtt_ms - small_rtt_ms;
        if (delta_ms > config_.min_delta_ms)
            add_bandwidth(bits / (delta_ms / 1000.0), now_ns);
        else
            bandwidth_floor(bits, now_ns); // back within min_delta_ms (or first)
    }
    add_rtt(small_rtt_ms - transfer_ms(small_bytes), now_ns);
}

void LinkEstimator::on_probe(double rtt_ms, std::size_t bytes, std::uint64_t now_ns) {
    success();
    if (usable(rtt_ms))
        add_rtt(rtt_ms - transfer_ms(bytes), now_ns);
}

void LinkEstimator::on_offload(double round_trip_ms, double remote_ms, std::size_t bytes_up,
                               std::size_t bytes_down, std::uint64_t now_ns) {
    success();
    if (!usable(round_trip_ms) || !usable(remote_ms))
        return;
    const double network_ms = round_trip_ms - remote_ms;
    if (network_ms < 0.0)
        return;
    const std::size_t bytes = bytes_up + bytes_down;
    if (!rtt_.ewma.known) {
        if (bytes_up <= config_.small_payload)
            add_rtt(network_ms - transfer_ms(bytes), now_ns);
        return;
    }
    const double bits = static_cast<double>(bytes) * 8.0;
    const double expected_ms = transfer_ms(bytes);
    const double measured_ms = network_ms - rtt_.ewma.mean;
    // Later than predicted by more than the rtt's jitter: a link that has just become
    // slow (a single size cannot tell that from a longer rtt; a probe of the rtt will).
    const double surprise_ms = measured_ms - expected_ms;
    const double jitter_ms = 3.0 * std::sqrt(std::max(rtt_.ewma.var, 0.0));
    if (bytes_up >= config_.large_payload || expected_ms >= config_.passive_transfer_ms ||
        surprise_ms >= std::max(config_.passive_transfer_ms, jitter_ms)) {
        // The transfer is most of the network time (or has just become so): the bandwidth.
        if (measured_ms > config_.min_delta_ms)
            add_bandwidth(bits / (measured_ms / 1000.0), now_ns);
        else if (expected_ms >= config_.passive_transfer_ms)
            bandwidth_floor(bits, now_ns); // far quicker than estimated: a recovery
        return;
    }
    // A quick transfer: the rtt, and the link moved the bytes as quickly as estimated (so
    // an open run of low bandwidth outliers was no drop: two delays apart are not a step).
    add_rtt(network_ms - expected_ms, now_ns);
    if (bandwidth_.ewma.known) {
        bandwidth_.checked = true;
        bandwidth_.checked_ns = now_ns;
        if (bandwidth_.side < 0)
            bandwidth_.run.clear();
    }
}

void LinkEstimator::on_queue(double queue_ms, int depth, std::uint64_t now_ns) {
    (void)now_ns; // the age is of the link's samples; a queue report says nothing of it
    success();
    if (usable(queue_ms))
        queue_.add(queue_ms, config_.alpha);
    if (depth >= 0)
        queue_depth_ = depth;
}

void LinkEstimator::on_timeout() {
    ++timeouts_;
    if (++consecutive_timeouts_ >= config_.degraded_after)
        degraded_ = true;
}

void LinkEstimator::on_error() {
    ++errors_;
}

LinkEstimator::Estimate LinkEstimator::estimate(std::uint64_t now_ns) const {
    Estimate e;
    if (bandwidth_.ewma.known) {
        e.bandwidth_bps = bandwidth_.ewma.mean;
        e.bandwidth_stddev_bps = std::sqrt(std::max(bandwidth_.ewma.var, 0.0));
    }
    if (rtt_.ewma.known) {
        e.rtt_ms = rtt_.ewma.mean;
        e.rtt_stddev_ms = std::sqrt(std::max(rtt_.ewma.var, 0.0));
    }
    if (queue_.known)
        e.queue_ms = queue_.mean;
    e.queue_depth = queue_depth_;
    e.samples_rtt = samples_rtt_;
    e.samples_bw = samples_bw_;
    e.too_fast = too_fast_;
    e.timeouts = timeouts_;
    e.errors = errors_;
    e.consecutive_timeouts = consecutive_timeouts_;
    e.degraded = degraded_;
    if (sampled_)
        e.age_ms = ms_between(last_sample_ns_, now_ns);
    if (bandwidth_.checked) {
        e.bandwidth_age_ms = ms_between(bandwidth_.checked_ns, now_ns);
        e.bandwidth_checked_ns = bandwidth_.checked_ns;
    }
    e.bandwidth_unconfirmed = !bandwidth_.run.empty();
    if (rtt_.checked)
        e.rtt_age_ms = ms_between(rtt_.checked_ns, now_ns);
    return e;
}

bool LinkEstimator::awaits_confirmation(const Tracked &t, std::uint64_t now_ns) const {
    return !t.run.empty() && ms_between(t.run_at_ns, now_ns) >= config_.confirm_after_ms;
}

LinkEstimator::ProbeNeed LinkEstimator::probe_need(std::uint64_t now_ns, double max_age_ms) const {
    const auto stale = [&](const Tracked &t) {
        return !t.ewma.known || !t.checked || ms_between(t.checked_ns, now_ns) >= max_age_ms ||
               awaits_confirmation(t, now_ns);
    };
    if (stale(bandwidth_))
        return ProbeNeed::bandwidth;
    if (stale(rtt_))
        return ProbeNeed::rtt;
    return ProbeNeed::none;
}

bool LinkEstimator::moved(const Estimate &previous, double threshold) const {
    const auto changed = [threshold](bool was_known, double was, bool known, double now) {
        if (was_known != known)
            return true;
        return known && std::fabs(now - was) > threshold * std::fabs(was);
    };
    const bool bw_known = bandwidth_.ewma.known && bandwidth_.ewma.mean > 0.0;
    return previous.degraded != degraded_ ||
           changed(previous.bandwidth_bps > 0.0, previous.bandwidth_bps, bw_known,
                   bandwidth_.ewma.mean) ||
           changed(previous.rtt_ms >= 0.0, previous.rtt_ms, rtt_.ewma.known, rtt_.ewma.mean);
}

double LinkEstimator::predict_ms(std::size_t bytes) const {
    if (!rtt_.ewma.known || !bandwidth_.ewma.known || !(bandwidth_.ewma.mean > 0.0))
        return -1.0;
    return rtt_.ewma.mean + transfer_ms(bytes);
}

} // namespace tierd
