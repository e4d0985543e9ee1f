#include "agent/pipeline/offload_client.hpp"

#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/jpeg_codec.hpp"
#include "agent/pipeline/offload_codec.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tierd {
namespace {

std::string fixed_string(const char *text, std::size_t size) {
    return std::string(text, strnlen(text, size));
}

double ms_since(std::uint64_t start_ns) {
    return static_cast<double>(uv_hrtime() - start_ns) / 1e6;
}

// Requests up to this many payload bytes are encoded on the loop (a copy of a few KB is
// cheaper than a worker round trip); larger ones on a worker.
constexpr std::size_t kEncodeOnLoopBytes = 64 * 1024;

// A pair's large probe takes this long at the slowest uplink estimate: long enough to
// time against the loop's and the link's jitter, short enough that a task sent behind it
// hardly notices (at 0.5 Mbit/s: ~190 bytes).
constexpr double kProbeTransferMs = 3.0;
constexpr std::size_t kMinProbePad = 64;
// ... and never more than this: within TCP's initial congestion window (10 segments,
// ~14 KB), which an app-limited connection seldom grows past; a probe beyond it waits a
// whole extra round trip, which would read as a slow link.
constexpr std::size_t kMaxProbePad = 8192;
// Before any bandwidth is known (8 ms at 0.5 Mbit/s).
constexpr std::size_t kUnknownLinkProbePad = 512;
// A pair whose large probe is at least this large starts with a canary of a sixteenth of
// it (OffloadClient::Probe).
constexpr std::size_t kCanaryMinLargePad = 2048;
// Probes back to back take at most this share of the link's time: after each exchange
// the next waits its airtime / kProbeShare (at 0.5 Mbit/s a lone probe and its answer
// take ~6 ms, so ~120 ms).
constexpr double kProbeShare = 0.05;
// For that airtime: a probe's answer (its JSON), and the MQTT (topic, properties) and
// TCP/IP framing of each message, in bytes.
constexpr std::size_t kProbeReplyBytes = 120;
constexpr std::size_t kFramingBytes = 120;

} // namespace

std::uint64_t UplinkBacklog::add(tierd_tier tier, std::size_t bytes, std::uint64_t sent_ns) {
    if (messages_.size() >= kMaxMessages)
        messages_.pop_front();
    messages_.push_back({next_number_, tier, bytes, sent_ns});
    return next_number_++;
}

void UplinkBacklog::left(std::uint64_t number, std::uint64_t left_by_ns) {
    if (messages_.empty() || number < messages_.front().number || number >= next_number_)
        return;
    Message &m = messages_[number - messages_.front().number];
    m.left_by_ns = std::max(left_by_ns, m.sent_ns);
}

double UplinkBacklog::wait_ms(std::uint64_t number,
                              const std::function<double(tierd_tier)> &bps) const {
    if (messages_.empty() || number < messages_.front().number || number >= next_number_)
        return 0.0;
    // The uplink's free time (ns) as the messages before `number` leave one after another.
    double free_ns = 0.0;
    for (const Message &m : messages_) {
        const double sent = static_cast<double>(m.sent_ns);
        if (m.number == number)
            return std::max(0.0, free_ns - sent) / 1e6;
        const double rate = bps(m.tier);
        const double airtime_ns =
            rate > 0.0 ? static_cast<double>(m.bytes) * 8.0 / rate * 1e9 : 0.0;
        free_ns = std::max(free_ns, sent) + airtime_ns;
        if (m.left_by_ns != 0)
            free_ns = std::min(free_ns, static_cast<double>(m.left_by_ns));
    }
    return 0.0;
}

void UplinkBacklog::forget_before(std::uint64_t ns) {
    while (!messages_.empty() && messages_.front().sent_ns < ns)
        messages_.pop_front();
}

OffloadClient::OffloadClient(uv_loop_t *loop, Options options, Answered answered)
    : loop_(loop), options_(std::move(options)), answered_(std::move(answered)) {}

bool OffloadClient::can_send(tierd_tier tier) const {
    return upstream_.send && upstream_.online && upstream_.online(tier);
}

bool OffloadClient::answering(tierd_tier tier) const {
    return can_send(tier) && !link(tier).estimate(uv_hrtime()).degraded;
}

void OffloadClient::start() {
    if (started_)
        return;
    started_ = true;
    uv_timer_init(loop_, &sweep_timer_);
    sweep_timer_.data = this;
    start_probing();
}

void OffloadClient::start_probing() {
    if (probing_ || stopping_ || options_.probe_interval_ms <= 0 || !upstream_.send)
        return;
    uv_timer_init(loop_, &probe_timer_);
    probe_timer_.data = this;
    probing_ = true;
    // The tick only looks whether a probe is due (LinkEstimator::probe_need): often enough
    // to confirm a step within confirm_after_ms and to catch a pause in the traffic.
    const auto tick_ms =
        std::clamp<uint64_t>(static_cast<uint64_t>(options_.probe_interval_ms) / 20, 5, 50);
    uv_timer_start(&probe_timer_, &OffloadClient::on_probe_tick, 0, tick_ms);
}

void OffloadClient::probe_now() {
    if (probing_ && !stopping_)
        probe_tick();
}

void OffloadClient::estimates(std::uint64_t now_ns, LinkEstimator::Estimate (&out)[2]) const {
    out[0] = links_[0].estimate(now_ns);
    out[1] = links_[1].estimate(now_ns);
}

void OffloadClient::observe_links(std::uint64_t now_ns) {
    LinkEstimator::Estimate both[2];
    estimates(now_ns, both);
    shared_hop_.observe(both);
}

tierd_link_state OffloadClient::link_state(tierd_tier tier, std::uint64_t now_ns) const {
    LinkEstimator::Estimate both[2];
    estimates(now_ns, both);
    const LinkEstimator::Estimate &e = both[tier_slot(tier)];
    tierd_link_state state{};
    state.struct_size = sizeof state;
    state.connected = upstream_.online && upstream_.online(tier) && !e.degraded ? 1 : 0;
    state.bandwidth_bps = e.bandwidth_bps;
    // A drop the other tier's traffic saw on the shared hop, not measured here yet.
    const double bound = shared_hop_.bound(tier_slot(tier), both);
    if (bound > 0.0 && bound < state.bandwidth_bps)
        state.bandwidth_bps = bound;
    state.rtt_ms = std::max(0.0, e.rtt_ms);
    state.bandwidth_stddev_bps = e.bandwidth_stddev_bps;
    state.rtt_stddev_ms = e.rtt_stddev_ms;
    state.queue_ms = std::max(0.0, e.queue_ms);
    state.queue_depth = e.queue_depth;
    state.degraded = e.degraded ? 1 : 0;
    return state;
}

void OffloadClient::give_back(TaskPtr task, std::string fallback) {
    task->offload.fallback = std::move(fallback);
    answered_(std::move(task));
}

void OffloadClient::send(TaskPtr task) {
    if (stopping_)
        return give_back(std::move(task), "stopping");
    auto request = std::make_shared<OffloadRequest>();
    request->task_id = task->task_id;
    request->device_id = options_.device_id;
    request->model = fixed_string(task->decision.model, sizeof task->decision.model);
    request->budget_ms = options_.timeout_ms;
    std::size_t body_bytes = 0;
    if (task->split) {
        request->payload = OffloadRequest::Payload::tensor;
        request->cut_layer = task->decision.split_layer;
        const std::string wire = fixed_string(task->decision.wire, sizeof task->decision.wire);
        request->wire = wire.empty() ? "f16" : wire;
        const tierd_tensor &head = task->head.view;
        request->shape.assign(head.shape, head.shape + std::min(head.rank, 4u));
        request->tensor = std::move(task->head.tensor);
        task->head.tensor.clear();
        body_bytes = request->tensor.size() * 2;
    } else {
        request->image = task->in.image;
        request->jpeg_quality = task->jpeg_quality; // video frames: JPEG (encoded on a worker)
        request->features = task->features;         // feature fusion: the upstream's map too
        body_bytes = task->in.image.total() * task->in.image.elemSize();
        if (options_.frame_resend && task->jpeg_quality > 0 && task->in.image.channels() == 3) {
            // Region re-send: the frame small and rough first (region_resend.hpp).
            request->resend = ResendAsk{true,
                                        task->in.image.cols,
                                        task->in.image.rows,
                                        options_.resend_sure,
                                        options_.resend_unsure,
                                        options_.resend_margin};
            request->low_scale = options_.low_scale;
            request->low_quality = options_.low_quality;
        }
    }
    encode_and_publish(
        std::move(task), [request] { return encode_offload_request(*request); }, body_bytes);
}

void OffloadClient::encode_and_publish(TaskPtr task, std::function<std::string()> encode,
                                       std::size_t body_bytes) {
    if (body_bytes <= kEncodeOnLoopBytes) {
        std::string payload;
        try {
            payload = encode();
        } catch (const std::exception &e) {
            return give_back(std::move(task), std::string("encode-failed: ") + e.what());
        }
        return publish(std::move(task), std::move(payload));
    }
    // A large image or tensor (or region crops): the copy, the f16/i8 conversion or the
    // JPEG encoding runs on a worker.
    ++encoding_;
    struct Encoded {
        TaskPtr task;
        std::string payload, error;
    };
    auto job = std::make_shared<Encoded>();
    job->task = std::move(task);
    queue_loop_work(
        loop_,
        [job, encode = std::move(encode)] {
            try {
                job->payload = encode();
            } catch (const std::exception &e) {
                job->error = e.what();
            }
        },
        [this, job] {
            --encoding_;
            if (!job->error.empty())
                give_back(std::move(job->task), "encode-failed: " + job->error);
            else if (stopping_)
                give_back(std::move(job->task), "stopping");
            else
                publish(std::move(job->task), std::move(job->payload));
            if (stopping_ && idle() && closed_)
                std::exchange(closed_, nullptr)();
        },
        "offload encode");
}

void OffloadClient::publish(TaskPtr task, std::string payload) {
    const tierd_tier tier = task->decision.tier;
    // A second round of region re-send adds to the first's bytes and keeps its deadline.
    const bool second_round = task->offload.resend_regions > 0;
    const std::uint64_t now = uv_hrtime();
    if (second_round) {
        task->offload.bytes_sent += payload.size();
    } else {
        task->offload.bytes_sent = payload.size();
        task->offload.sent_ns = now;
    }
    if (!upstream_.send || !upstream_.send(tier, payload, task->task_id)) {
        link(tier).on_error();
        return give_back(std::move(task), "broker-unreachable");
    }
    task->stage = Task::Stage::offloaded;
    if (second_round) {
        ++resend_rounds_;
    } else {
        const std::uint64_t timeout_ns = static_cast<std::uint64_t>(options_.timeout_ms) * 1000000u;
        task->offload.deadline_ns = now + timeout_ns;
        if (now > timeout_ns)
            uplink_.forget_before(now - timeout_ns);
    }
    uplink_number_[task->task_id] = uplink_.add(tier, payload.size(), now);
    std::string id = task->task_id;
    pending_.emplace(std::move(id), std::move(task));
    if (!sweeping_) {
        uv_timer_start(&sweep_timer_, &OffloadClient::on_sweep, 5, 5);
        sweeping_ = true;
    }
}

void OffloadClient::on_reply(const std::string &payload) {
    std::string error;
    auto reply = decode_offload_reply(payload, error);
    if (!reply) {
        spdlog::warn("offload: a malformed reply was dropped: {}", error);
        return;
    }
    if (reply->probe)
        return on_probe_reply(reply->task_id);
    auto it = pending_.find(reply->task_id);
    if (it == pending_.end()) {
        ++late_replies_; // it timed out and ran here already
        return;
    }
    TaskPtr task = std::move(it->second);
    pending_.erase(it);
    task->offload.ms = ms_since(task->offload.sent_ns);
    const std::size_t received_before = task->offload.bytes_received;
    task->offload.bytes_received = payload.size();
    const tierd_tier tier = task->decision.tier;
    LinkEstimator &estimator = link(tier);
    const std::uint64_t now = uv_hrtime();
    const double remote_ms = reply->compute_ms + std::max(0.0, reply->queue_ms);
    // A real round trip is the estimator's best sample (passive: it cost the link nothing
    // more), less the time the request waited behind the end's earlier messages.
    double uplink_wait_ms = 0.0;
    const auto number = uplink_number_.find(task->task_id);
    if (number != uplink_number_.end())
        uplink_wait_ms = this->uplink_wait_ms(number->second);
    estimator.on_queue(reply->queue_ms, reply->queue_depth, now);
    if (!reply->ok)
        estimator.on_error();
    else if (task->offload.resend_regions == 0) // a second round's time spans both: no sample
        estimator.on_offload(task->offload.ms - uplink_wait_ms, remote_ms, task->offload.bytes_sent,
                             payload.size(), now);
    observe_links(now);
    if (number != uplink_number_.end()) {
        uplink_answered(number->second, tier, reply->ok ? remote_ms : 0.0, now);
        uplink_number_.erase(number);
    }
    if (!reply->ok)
        return give_back(std::move(task),
                         "upstream-error: " + reply->error_code + ": " + reply->error_message);
    task->offload.bytes_received += received_before; // a second round's reply adds to the first
    if (!reply->resend.empty() && task->offload.resend_regions == 0)
        return send_regions(std::move(task), reply->resend);
    if (reply->features == FeatureCompression::none)
        return finish_reply(std::move(task), std::move(*reply), {});
    // A feature map: inflating and dequantising it (about 1 ms for 64 x 44 x 80) runs on a
    // worker, then the answer goes on as any other.
    ++encoding_;
    struct Decoded {
        TaskPtr task;
        OffloadReply reply;
        std::vector<float> values;
        std::string why;
    };
    auto job = std::make_shared<Decoded>();
    job->task = std::move(task);
    job->reply = std::move(*reply);
    queue_loop_work(
        loop_,
        [job] {
            const auto &r = job->reply;
            if (!decode_feature_map(r.feature_bytes, r.feature_shape[0], r.feature_shape[1],
                                    r.feature_shape[2], r.features, job->values, job->why))
                job->values.clear();
            std::string().swap(job->reply.feature_bytes);
        },
        [this, job] {
            --encoding_;
            if (!job->why.empty())
                spdlog::warn("offload: the feature map of {} from {} is dropped: {}",
                             job->task->task_id, job->reply.device_id, job->why);
            finish_reply(std::move(job->task), std::move(job->reply), std::move(job->values));
            if (stopping_ && idle() && closed_)
                std::exchange(closed_, nullptr)();
        },
        "offload features");
}

// The upstream's answer into the task's remote outcome (loop): its scores, boxes and
// feature map (`features`, [C, H, W] as the reply's shape; empty: none).
void OffloadClient::finish_reply(TaskPtr task, OffloadReply reply, std::vector<float> features) {
    Task::Outcome &remote = task->remote;
    remote.scores = std::move(reply.scores);
    remote.result = tierd_inference_result{};
    remote.result.struct_size = sizeof remote.result;
    remote.result.scores = remote.scores.data();
    remote.result.score_capacity = static_cast<std::uint32_t>(remote.scores.size());
    remote.result.score_count = static_cast<std::uint32_t>(remote.scores.size());
    remote.result.top_class = reply.top_class;
    remote.result.top_score = reply.top_score;
    std::snprintf(remote.result.model, sizeof remote.result.model, "%s", reply.model.c_str());
    remote.result.compute_ms = reply.compute_ms;
    remote.result.energy_j = reply.energy_j;
    std::snprintf(remote.result.energy_source, sizeof remote.result.energy_source, "%s",
                  reply.energy_source.c_str());
    remote.set_detections(reply.detections, reply.image_width, reply.image_height);
    if (!features.empty())
        remote.set_features(std::move(features), reply.feature_shape);
    remote.ok = true;
    task->offload.device = reply.device_id;
    task->error.clear(); // a failed local_first answer does not fail a task answered upstream
    answered_(std::move(task));
}

// Region re-send, the second round (loop): the regions the serving tier asked for, cut
// from the frame and sent at the frame's JPEG quality under the same task id; the task
// waits on, within its first deadline. A region outside the frame is clipped; one that
// is empty after that leaves the task to the timeout's fallback.
void OffloadClient::send_regions(TaskPtr task, const std::vector<cv::Rect> &regions) {
    auto request = std::make_shared<OffloadRequest>();
    request->payload = OffloadRequest::Payload::regions;
    request->task_id = task->task_id;
    request->device_id = options_.device_id;
    request->model = fixed_string(task->decision.model, sizeof task->decision.model);
    const std::uint64_t now = uv_hrtime();
    request->budget_ms = task->offload.deadline_ns > now
                             ? static_cast<double>(task->offload.deadline_ns - now) / 1e6
                             : 1.0;
    const cv::Mat &frame = task->in.image;
    const cv::Rect whole(0, 0, frame.cols, frame.rows);
    std::vector<cv::Mat> crops; // views into the frame, which the task (with the job) keeps
    std::size_t body_bytes = 0;
    for (const cv::Rect &asked : regions) {
        const cv::Rect r = asked & whole;
        if (r.area() <= 0)
            return give_back(std::move(task), "resend-failed: a region outside the frame");
        request->regions.push_back(r);
        crops.push_back(frame(r));
        body_bytes += crops.back().total() * crops.back().elemSize();
    }
    task->offload.resend_regions = static_cast<int>(request->regions.size());
    const int quality = task->jpeg_quality > 0 ? task->jpeg_quality : 75;
    if (options_.resend_mosaic) {
        // One JPEG for all the crops (the frame stays with the task, and so with the job).
        const Mosaic mosaic = pack_regions(request->regions);
        request->mosaic_size = mosaic.size;
        request->mosaic_at = mosaic.at;
        encode_and_publish(
            std::move(task),
            [request, frame, quality, mosaic] {
                request->mosaic_jpeg =
                    encode_jpeg(compose_mosaic(frame, request->regions, mosaic), quality);
                return encode_offload_request(*request);
            },
            body_bytes);
        return;
    }
    encode_and_publish(
        std::move(task),
        [request, crops = std::move(crops), quality] {
            for (const cv::Mat &crop : crops)
                request->region_jpegs.push_back(encode_jpeg(crop, quality));
            return encode_offload_request(*request);
        },
        body_bytes);
}

void OffloadClient::on_sweep(uv_timer_t *timer) {
    auto *self = static_cast<OffloadClient *>(timer->data);
    const std::uint64_t now = uv_hrtime();
    std::vector<TaskPtr> expired;
    for (auto it = self->pending_.begin(); it != self->pending_.end();) {
        if (it->second->offload.deadline_ns > now) {
            ++it;
            continue;
        }
        self->link(it->second->decision.tier).on_timeout();
        self->uplink_number_.erase(it->first);
        expired.push_back(std::move(it->second));
        it = self->pending_.erase(it);
    }
    if (self->pending_.empty()) {
        uv_timer_stop(timer);
        self->sweeping_ = false;
    }
    for (auto &task : expired)
        self->give_back(std::move(task), "timeout");
}

void OffloadClient::on_probe_tick(uv_timer_t *timer) {
    static_cast<OffloadClient *>(timer->data)->probe_tick();
}

void OffloadClient::probe_tick() {
    if (stopping_ || !upstream_.send || !upstream_.online)
        return;
    const std::uint64_t now = uv_hrtime();
    if (probe_) {
        // One probe at a time on the connection: the next waits for this one's answer, or
        // until the offload timeout has passed, when it counts as a timeout.
        if (now - probe_->sent_ns <= static_cast<std::uint64_t>(options_.timeout_ms) * 1000000u)
            return;
        link(probe_->tier).on_timeout();
        probe_.reset();
    }
    if (now < probe_quiet_until_ns_)
        return;
    const double interval_ms = options_.probe_interval_ms;
    // The tiers in turn, so that one's probes never starve the other's.
    for (int k = 0; k < 2; ++k) {
        const tierd_tier tier = (next_tier_ + k) % 2 == 0 ? TIERD_TIER_EDGE : TIERD_TIER_CLOUD;
        if (!upstream_.online(tier))
            continue;
        const LinkEstimator &estimator = link(tier);
        LinkEstimator::ProbeNeed need = estimator.probe_need(now, interval_ms);
        if (need != LinkEstimator::ProbeNeed::bandwidth) {
            // The other tier saw the shared hop drop: measure this one's bandwidth now.
            LinkEstimator::Estimate both[2];
            estimates(now, both);
            if (shared_hop_.bounded(tier_slot(tier), both))
                need = LinkEstimator::ProbeNeed::bandwidth;
        }
        if (need == LinkEstimator::ProbeNeed::none)
            continue;
        if (!pending_.empty()) {
            // An offload waits for its reply: a probe now would delay the next request
            // and read that traffic as the link's. Its reply (or a pause) comes soon; only
            // under traffic that never pauses is an estimate three intervals old probed.
            const LinkEstimator::Estimate e = estimator.estimate(now);
            const double age =
                need == LinkEstimator::ProbeNeed::bandwidth ? e.bandwidth_age_ms : e.rtt_age_ms;
            if (age >= 0.0 && age < 3.0 * interval_ms)
                continue;
        }
        next_tier_ = (next_tier_ + k + 1) % 2;
        Probe probe;
        std::size_t pad = 0;
        if (need == LinkEstimator::ProbeNeed::bandwidth) {
            probe.stage = Probe::Stage::canary;
            probe.large_pad = large_probe_pad(now);
            pad = probe.large_pad / 16;
        }
        send_probe(tier, pad, std::move(probe));
        return;
    }
}

std::size_t OffloadClient::large_probe_pad(std::uint64_t now_ns) const {
    // The edge's and the cloud's paths share the end's uplink: size for the slower.
    double slowest = 0.0;
    for (const LinkEstimator &estimator : links_) {
        const double bps = estimator.estimate(now_ns).bandwidth_bps;
        if (bps > 0.0 && (slowest == 0.0 || bps < slowest))
            slowest = bps;
    }
    if (slowest <= 0.0)
        return kUnknownLinkProbePad;
    return std::clamp(static_cast<std::size_t>(slowest * kProbeTransferMs / 1000.0 / 8.0),
                      kMinProbePad, kMaxProbePad);
}

bool OffloadClient::send_probe(tierd_tier tier, std::size_t pad, Probe probe) {
    OffloadRequest request;
    request.payload = OffloadRequest::Payload::probe;
    request.task_id = "probe-" + std::to_string(probe_seq_++);
    request.device_id = options_.device_id;
    request.pad = pad;
    const std::string payload = encode_offload_request(request);
    if (!upstream_.send(tier, payload, request.task_id))
        return false;
    ++probes_sent_[tier_slot(tier)];
    probe_bytes_[tier_slot(tier)] += payload.size();
    probe.id = request.task_id;
    probe.tier = tier;
    probe.bytes = payload.size();
    probe.sent_ns = uv_hrtime();
    const std::uint64_t timeout_ns = static_cast<std::uint64_t>(options_.timeout_ms) * 1000000u;
    if (probe.sent_ns > timeout_ns)
        uplink_.forget_before(probe.sent_ns - timeout_ns);
    probe.uplink_number = uplink_.add(tier, payload.size(), probe.sent_ns);
    probe_ = std::move(probe);
    return true;
}

void OffloadClient::on_probe_reply(const std::string &id) {
    if (!probe_ || probe_->id != id)
        return; // too late: counted as a timeout already
    const Probe probe = std::move(*probe_);
    probe_.reset();
    // Its round trip less the wait behind the end's earlier messages on the uplink.
    const double rtt_ms = ms_since(probe.sent_ns) - uplink_wait_ms(probe.uplink_number);
    const std::uint64_t now = uv_hrtime();
    LinkEstimator &estimator = link(probe.tier);
    uplink_answered(probe.uplink_number, probe.tier, 0.0, now);
    const bool bandwidth_known = estimator.estimate(now).bandwidth_bps > 0.0;
    if (probe.stage == Probe::Stage::canary && (pending_.empty() || !bandwidth_known) &&
        !stopping_ && upstream_.online && upstream_.online(probe.tier)) {
        // The pair's second probe, alone on the connection as the canary was: the large
        // one, unless the canary says the link is far slower than estimated (then an
        // empty one, and the canary is the pair's large half). A large one under
        // kCanaryMinLargePad goes anyway: so small a canary's delay is jitter, not its
        // transfer, and the pair it would make too small to time.
        const double predicted_ms = estimator.predict_ms(probe.bytes);
        const bool slower = probe.large_pad >= kCanaryMinLargePad && predicted_ms >= 0.0 &&
                            rtt_ms - predicted_ms >= kProbeTransferMs;
        Probe second;
        second.stage = Probe::Stage::second;
        second.first_rtt_ms = rtt_ms;
        second.first_bytes = probe.bytes;
        if (send_probe(probe.tier, slower ? 0 : probe.large_pad, std::move(second)))
            return;
    }
    std::size_t bytes = probe.bytes + kProbeReplyBytes + 2 * kFramingBytes;
    if (probe.stage == Probe::Stage::second) {
        if (probe.first_bytes <= probe.bytes)
            estimator.on_probe_pair(probe.first_rtt_ms, probe.first_bytes, rtt_ms, probe.bytes,
                                    now);
        else
            estimator.on_probe_pair(rtt_ms, probe.bytes, probe.first_rtt_ms, probe.first_bytes,
                                    now);
        bytes += probe.first_bytes + kProbeReplyBytes + 2 * kFramingBytes;
    } else if (probe.stage == Probe::Stage::canary && bandwidth_known) {
        // A canary whose pair could not go on (an offload waits for its reply): one
        // message of known size, as an offload's round trip is (answered at once).
        estimator.on_offload(rtt_ms, 0.0, probe.bytes, kProbeReplyBytes, now);
    } else {
        // a lone small probe, or a canary whose pair could not go on, nothing known
        estimator.on_probe(rtt_ms, probe.bytes, now);
    }
    observe_links(now);
    // Pacing: the next probe waits until these have taken at most kProbeShare of the
    // link's time at its (new) estimate.
    const double bps = estimator.estimate(now).bandwidth_bps;
    if (bps > 0.0) {
        const double airtime_ms = static_cast<double>(bytes) * 8.0 / bps * 1000.0;
        probe_quiet_until_ns_ = now + static_cast<std::uint64_t>(airtime_ms / kProbeShare * 1e6);
    }
}

void OffloadClient::uplink_answered(std::uint64_t number, tierd_tier tier, double remote_ms,
                                    std::uint64_t now_ns) {
    // Answered now: it left the uplink at least the remote time and a round trip of the
    // link (the rtt estimate: the way there and back) ago; its reply's own transfer is not
    // taken off, so that this bound is late rather than early.
    const double rtt_ms = link(tier).estimate(now_ns).rtt_ms;
    const double before_ms = std::max(0.0, remote_ms) + std::max(0.0, rtt_ms);
    const auto before_ns = static_cast<std::uint64_t>(before_ms * 1e6);
    uplink_.left(number, now_ns > before_ns ? now_ns - before_ns : 0);
}

double OffloadClient::uplink_wait_ms(std::uint64_t number) const {
    const std::uint64_t now = uv_hrtime();
    const double bps[2] = {links_[0].estimate(now).bandwidth_bps,
                           links_[1].estimate(now).bandwidth_bps};
    return uplink_.wait_ms(number, [&bps](tierd_tier tier) { return bps[tier_slot(tier)]; });
}

void OffloadClient::closed_one() {
    --closing_;
    if (idle() && closed_)
        std::exchange(closed_, nullptr)();
}

void OffloadClient::stop(std::function<void()> closed) {
    if (stopping_)
        return;
    stopping_ = true;
    closed_ = std::move(closed);
    // Tasks waiting for an upstream reply run here instead.
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto &[id, task] : pending)
        give_back(std::move(task), "stopping");
    auto close = [this](uv_timer_t *timer) {
        ++closing_;
        uv_close(reinterpret_cast<uv_handle_t *>(timer),
                 [](uv_handle_t *h) { static_cast<OffloadClient *>(h->data)->closed_one(); });
    };
    probe_.reset();
    uplink_number_.clear();
    uplink_.clear();
    if (probing_) {
        probing_ = false;
        close(&probe_timer_);
    }
    if (started_)
        close(&sweep_timer_);
    if (idle() && closed_)
        std::exchange(closed_, nullptr)();
}

void OffloadClient::add_stats(nlohmann::json &stats) const {
    stats["offload_pending"] = pending_.size();
    stats["late_replies"] = late_replies_;
    stats["resend_rounds"] = resend_rounds_;
    nlohmann::json links = nlohmann::json::object();
    const std::uint64_t now = uv_hrtime();
    LinkEstimator::Estimate both[2];
    estimates(now, both);
    for (auto [name, index] : {std::pair{"edge", 0}, {"cloud", 1}}) {
        const auto &e = both[index];
        if (e.samples_rtt == 0 && e.samples_bw == 0 && e.timeouts == 0)
            continue;
        links[name] = {{"bandwidth_bps", e.bandwidth_bps},
                       {"bandwidth_stddev_bps", e.bandwidth_stddev_bps},
                       {"rtt_ms", e.rtt_ms},
                       {"rtt_stddev_ms", e.rtt_stddev_ms},
                       {"queue_ms", e.queue_ms},
                       {"queue_depth", e.queue_depth},
                       {"samples_rtt", e.samples_rtt},
                       {"samples_bw", e.samples_bw},
                       {"timeouts", e.timeouts},
                       {"degraded", e.degraded},
                       {"probes", probes_sent_[index]},
                       {"probe_bytes", probe_bytes_[index]},
                       // the other tier's drop of the shared hop, until this one is measured
                       // (0: none); the scheduler sees the lower of the two
                       {"shared_hop_bound_bps", shared_hop_.bound(index, both)}};
    }
    stats["links"] = std::move(links);
}

} // namespace tierd
