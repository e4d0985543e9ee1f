#include "agent/pipeline/link_estimator.hpp"

#include <algorithm>
#include <cmath>

namespace tierd {
namespace {

bool usable(double v) {
    return std::isfinite(v) && v >= 0.0;
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
    config_.outlier_run = std::max(config_.outlier_run, 1);
    config_.degraded_after = std::max(config_.degraded_after, 1);
}

double LinkEstimator::transfer_ms(std::size_t bytes) const {
    if (!bandwidth_.known || !(bandwidth_.mean > 0.0))
        return 0.0;
    return static_cast<double>(bytes) * 8.0 / bandwidth_.mean * 1000.0;
}

void LinkEstimator::success() {
    consecutive_timeouts_ = 0;
    degraded_ = false;
}

int LinkEstimator::outlier_side(double bps, double reference) const {
    if (bps > reference * config_.outlier_factor)
        return 1;
    if (bps * config_.outlier_factor < reference)
        return -1;
    return 0;
}

void LinkEstimator::add_bandwidth(double bps, std::uint64_t now_ns) {
    if (!std::isfinite(bps) || !(bps > 0.0))
        return;
    bps = std::min(bps, config_.max_bandwidth_bps);
    ++samples_bw_;
    sampled_ = true;
    last_sample_ns_ = now_ns;
    if (!bandwidth_.known) {
        bandwidth_.reset_to(bps, 0.0);
        return;
    }
    // Outliers are judged against the estimate from before their run, which the damped
    // updates move.
    double reference = outliers_.empty() ? bandwidth_.mean : outlier_reference_;
    int side = outlier_side(bps, reference);
    if (side != 0 && !outliers_.empty() && side != outlier_side_) { // the other side
        outliers_.clear();
        reference = bandwidth_.mean;
        side = outlier_side(bps, reference);
    }
    if (side == 0) {
        outliers_.clear();
        bandwidth_.add(bps, config_.alpha);
        return;
    }
    if (outliers_.empty()) {
        outlier_reference_ = reference;
        outlier_side_ = side;
    }
    outliers_.push_back(bps);
    if (outliers_.size() < static_cast<std::size_t>(config_.outlier_run)) {
        bandwidth_.add(bps, config_.alpha / config_.outlier_alpha_divisor);
        return;
    }
    // A run of outliers on one side is a step change, not a stall: restart from the run.
    double mean = 0.0, var = 0.0;
    for (double x : outliers_)
        mean += x;
    mean /= static_cast<double>(outliers_.size());
    for (double x : outliers_)
        var += (x - mean) * (x - mean);
    var /= static_cast<double>(outliers_.size());
    bandwidth_.reset_to(mean, var);
    outliers_.clear();
}

void LinkEstimator::add_rtt(double ms, std::uint64_t now_ns) {
    if (!std::isfinite(ms))
        return;
    rtt_.add(std::max(ms, 0.0), config_.alpha);
    ++samples_rtt_;
    sampled_ = true;
    last_sample_ns_ = now_ns;
}

void LinkEstimator::on_probe_pair(double small_rtt_ms, std::size_t small_bytes, double large_rtt_ms,
                                  std::size_t large_bytes, std::uint64_t now_ns) {
    success();
    if (!usable(small_rtt_ms))
        return;
    if (usable(large_rtt_ms) && large_bytes > small_bytes) {
        const double bits = static_cast<double>(large_bytes - small_bytes) * 8.0;
        const double delta_ms = large_rtt_ms - small_rtt_ms;
        if (delta_ms > config_.min_delta_ms) {
            add_bandwidth(bits / (delta_ms / 1000.0), now_ns);
        } else {
            // Too fast to measure: the large probe came back within min_delta_ms of the
            // small one (or with it, in one read): the link moves `bits` in under that.
            ++too_fast_;
            const double floor =
                std::min(bits / (config_.min_delta_ms / 1000.0), config_.max_bandwidth_bps);
            if (!bandwidth_.known || bandwidth_.mean < floor)
                bandwidth_.reset_to(floor, bandwidth_.known ? bandwidth_.var : 0.0);
        }
    }
    add_rtt(small_rtt_ms - transfer_ms(small_bytes), now_ns);
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
    if (bytes_up <= config_.small_payload) {
        add_rtt(network_ms - transfer_ms(bytes), now_ns);
    } else if (bytes_up >= config_.large_payload && rtt_.known) {
        const double transfer = network_ms - rtt_.mean;
        if (transfer > config_.min_delta_ms)
            add_bandwidth(static_cast<double>(bytes) * 8.0 / (transfer / 1000.0), now_ns);
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
    if (bandwidth_.known) {
        e.bandwidth_bps = bandwidth_.mean;
        e.bandwidth_stddev_bps = std::sqrt(std::max(bandwidth_.var, 0.0));
    }
    if (rtt_.known) {
        e.rtt_ms = rtt_.mean;
        e.rtt_stddev_ms = std::sqrt(std::max(rtt_.var, 0.0));
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
        e.age_ms =
            now_ns > last_sample_ns_ ? static_cast<double>(now_ns - last_sample_ns_) / 1e6 : 0.0;
    return e;
}

bool LinkEstimator::moved(const Estimate &previous, double threshold) const {
    const auto changed = [threshold](bool was_known, double was, bool known, double now) {
        if (was_known != known)
            return true;
        return known && std::fabs(now - was) > threshold * std::fabs(was);
    };
    const bool bw_known = bandwidth_.known && bandwidth_.mean > 0.0;
    return previous.degraded != degraded_ ||
           changed(previous.bandwidth_bps > 0.0, previous.bandwidth_bps, bw_known,
                   bandwidth_.mean) ||
           changed(previous.rtt_ms >= 0.0, previous.rtt_ms, rtt_.known, rtt_.mean);
}

double LinkEstimator::predict_ms(std::size_t bytes) const {
    if (!rtt_.known || !bandwidth_.known || !(bandwidth_.mean > 0.0))
        return -1.0;
    return rtt_.mean + transfer_ms(bytes);
}

} // namespace tierd
