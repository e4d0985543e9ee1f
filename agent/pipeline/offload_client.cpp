#include "agent/pipeline/offload_client.hpp"

#include "agent/loop/loop_work.hpp"
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

} // namespace

OffloadClient::OffloadClient(uv_loop_t *loop, Options options, Answered answered)
    : loop_(loop), options_(std::move(options)), answered_(std::move(answered)) {}

bool OffloadClient::can_send(tierd_tier tier) const {
    return upstream_.send && upstream_.online && upstream_.online(tier);
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
    // Each tick probes one tier: twice per interval, so each tier once per interval.
    uv_timer_start(&probe_timer_, &OffloadClient::on_probe_tick, 0,
                   std::max<uint64_t>(1, static_cast<uint64_t>(options_.probe_interval_ms) / 2));
}

void OffloadClient::probe_now() {
    if (probing_ && !stopping_)
        on_probe_tick(&probe_timer_);
}

tierd_link_state OffloadClient::link_state(tierd_tier tier, std::uint64_t now_ns) const {
    const LinkEstimator::Estimate e = link(tier).estimate(now_ns);
    tierd_link_state state{};
    state.struct_size = sizeof state;
    state.connected = upstream_.online && upstream_.online(tier) && !e.degraded ? 1 : 0;
    state.bandwidth_bps = e.bandwidth_bps;
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
        body_bytes = task->in.image.total() * task->in.image.elemSize();
    }
    auto encode = [request](std::string &payload, std::string &error) {
        try {
            payload = encode_offload_request(*request);
        } catch (const std::exception &e) {
            error = e.what();
        }
    };
    if (body_bytes <= kEncodeOnLoopBytes) {
        std::string payload, error;
        encode(payload, error);
        if (!error.empty())
            return give_back(std::move(task), "encode-failed: " + error);
        return publish(std::move(task), std::move(payload));
    }
    // A large image or tensor: the copy (and f16/i8 conversion) runs on a worker.
    ++encoding_;
    struct Encoded {
        TaskPtr task;
        std::string payload, error;
    };
    auto job = std::make_shared<Encoded>();
    job->task = std::move(task);
    queue_loop_work(
        loop_, [job, encode] { encode(job->payload, job->error); },
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
    task->offload.bytes_sent = payload.size();
    task->offload.sent_ns = uv_hrtime();
    if (!upstream_.send || !upstream_.send(tier, payload, task->task_id)) {
        link(tier).on_error();
        return give_back(std::move(task), "broker-unreachable");
    }
    task->offload.deadline_ns =
        task->offload.sent_ns + static_cast<std::uint64_t>(options_.timeout_ms) * 1000000u;
    task->stage = Task::Stage::offloaded;
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
    LinkEstimator &estimator = link(task->decision.tier);
    const std::uint64_t now = uv_hrtime();
    estimator.on_queue(reply->queue_ms, reply->queue_depth, now);
    if (reply->ok)
        estimator.on_offload(task->offload.ms, reply->compute_ms + std::max(0.0, reply->queue_ms),
                             task->offload.bytes_sent, payload.size(), now);
    else
        estimator.on_error();
    if (!reply->ok)
        return give_back(std::move(task), "upstream-error: " + reply->error_code + ": " +
                                              reply->error_message);
    Task::Outcome &remote = task->remote;
    remote.scores = std::move(reply->scores);
    remote.result = tierd_inference_result{};
    remote.result.struct_size = sizeof remote.result;
    remote.result.scores = remote.scores.data();
    remote.result.score_capacity = static_cast<std::uint32_t>(remote.scores.size());
    remote.result.score_count = static_cast<std::uint32_t>(remote.scores.size());
    remote.result.top_class = reply->top_class;
    remote.result.top_score = reply->top_score;
    std::snprintf(remote.result.model, sizeof remote.result.model, "%s", reply->model.c_str());
    remote.result.compute_ms = reply->compute_ms;
    remote.result.energy_j = reply->energy_j;
    std::snprintf(remote.result.energy_source, sizeof remote.result.energy_source, "%s",
                  reply->energy_source.c_str());
    remote.ok = true;
    task->offload.device = reply->device_id;
    task->error.clear(); // a failed local_first answer does not fail a task answered upstream
    answered_(std::move(task));
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
    auto *self = static_cast<OffloadClient *>(timer->data);
    if (self->stopping_ || !self->upstream_.send || !self->upstream_.online)
        return;
    const std::uint64_t now = uv_hrtime();
    // Probes that never came back count as timeouts once the offload timeout has passed.
    for (auto it = self->probes_.begin(); it != self->probes_.end();) {
        if (now - it->second.sent_ns >
            static_cast<std::uint64_t>(self->options_.timeout_ms) * 1000000u) {
            if (it->second.rtt_ms < 0.0)
                self->link(it->second.tier).on_timeout();
            it = self->probes_.erase(it);
        } else {
            ++it;
        }
    }
    // One tier per tick, alternating, so that one tier's large probe never delays the
    // other's small one in the end's single connection (it would read as a longer RTT).
    const tierd_tier tier = self->probe_seq_ % 2 == 0 ? TIERD_TIER_EDGE : TIERD_TIER_CLOUD;
    if (!self->upstream_.online(tier)) {
        ++self->probe_seq_; // the other tier's turn next time
        return;
    }
    // The large probe should take a few ms at the current estimate: long enough to
    // measure, short enough not to load a slow link, and within TCP's initial congestion
    // window (10 segments, ~14 KB): an app-limited connection seldom grows past it, and a
    // probe beyond it waits a whole extra round trip, which would read as a slow link.
    const double bps = self->link(tier).estimate(now).bandwidth_bps;
    const std::size_t large =
        bps > 0.0 ? std::clamp<std::size_t>(static_cast<std::size_t>(bps * 0.005 / 8.0), 2048, 8192)
                  : 8192;
    const std::string base = "probe-" + std::to_string(self->probe_seq_++) + "-";
    for (auto [suffix, pad] : {std::pair{"s", std::size_t{0}}, {"l", large}}) {
        OffloadRequest probe;
        probe.payload = OffloadRequest::Payload::probe;
        probe.task_id = base + suffix;
        probe.device_id = self->options_.device_id;
        probe.pad = pad;
        const std::string payload = encode_offload_request(probe);
        if (!self->upstream_.send(tier, payload, probe.task_id))
            break;
        self->probes_[probe.task_id] = Probe{tier, payload.size(), uv_hrtime()};
    }
}

void OffloadClient::on_probe_reply(const std::string &id) {
    auto it = probes_.find(id);
    if (it == probes_.end())
        return; // too late: counted as a timeout already
    it->second.rtt_ms = ms_since(it->second.sent_ns);
    // Both halves of a pair in: one bandwidth and one rtt sample.
    const std::string base = id.substr(0, id.size() - 1);
    auto small = probes_.find(base + "s"), large = probes_.find(base + "l");
    if (small == probes_.end() || large == probes_.end() || small->second.rtt_ms < 0.0 ||
        large->second.rtt_ms < 0.0)
        return;
    link(small->second.tier)
        .on_probe_pair(small->second.rtt_ms, small->second.bytes, large->second.rtt_ms,
                       large->second.bytes, uv_hrtime());
    probes_.erase(small);
    probes_.erase(large);
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
        uv_close(reinterpret_cast<uv_handle_t *>(timer), [](uv_handle_t *h) {
            static_cast<OffloadClient *>(h->data)->closed_one();
        });
    };
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
    nlohmann::json links = nlohmann::json::object();
    const std::uint64_t now = uv_hrtime();
    for (auto [name, index] : {std::pair{"edge", 0}, {"cloud", 1}}) {
        const auto e = links_[index].estimate(now);
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
                       {"degraded", e.degraded}};
    }
    stats["links"] = std::move(links);
}

} // namespace tierd
