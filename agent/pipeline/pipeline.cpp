#include "agent/pipeline/pipeline.hpp"

#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/offload_codec.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

namespace tierd {
namespace {

constexpr std::size_t kBatch = 32;         // images read per worker trip to the source
constexpr std::uint32_t kMaxFeatures = 64; // preclassifier feature buffer
constexpr std::uint32_t kMaxScores = 1024; // class scores buffer

const char *tier_name(tierd_tier tier) {
    switch (tier) {
    case TIERD_TIER_END: return "end";
    case TIERD_TIER_EDGE: return "edge";
    case TIERD_TIER_CLOUD: return "cloud";
    }
    return "end";
}

const char *route_name(tierd_route route) {
    switch (route) {
    case TIERD_ROUTE_LIGHT: return "light";
    case TIERD_ROUTE_HEAVY: return "heavy";
    case TIERD_ROUTE_UNKNOWN: break;
    }
    return "unknown";
}

double ms_since(uint64_t start_ns) {
    return static_cast<double>(uv_hrtime() - start_ns) / 1e6;
}

std::string fixed_string(const char *text, std::size_t size) {
    return std::string(text, strnlen(text, size));
}

// [pipeline] emulate_slowdown: a stage that took `ms` really takes `factor` times as long
// on the emulated device, so the worker sleeps the difference. Returns the emulated time.
double emulate(double ms, double factor) {
    if (factor <= 1.0)
        return ms;
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms * (factor - 1.0)));
    return ms * factor;
}

} // namespace

// One unit of work; its address is stable from start to finish (the plugin structs point
// into it), and exactly one thread touches it at a time.
struct Pipeline::Task {
    uint64_t seq = 0;
    SourceImage in;
    PipelinePlugins plugins;
    std::string task_id, source;
    tierd_image image{};
    tierd_task task{};
    uint64_t start_ns = 0;

    std::vector<float> features = std::vector<float>(kMaxFeatures);
    tierd_preclass_result pre{};
    bool have_pre = false;
    double classify_ms = 0.0;

    tierd_decision decision{};
    bool upstream = false;     // the scheduler placed it on another tier
    bool split = false;        // ... and asked for its head to run here (decision.split_layer)
    std::vector<float> tensor; // the head's output, sent upstream
    tierd_tensor head{};
    double head_ms = 0.0, head_energy_j = -1.0;

    std::vector<float> scores = std::vector<float>(kMaxScores);
    tierd_inference_result local{};
    bool have_local = false;
    bool local_first = false; // `local` was computed before the scheduler decided
    double infer_ms = 0.0;

    std::vector<float> fused_scores = std::vector<float>(kMaxScores);
    tierd_inference_result fused{};
    bool have_fused = false;

    // Offload.
    uint64_t deadline_ns = 0;   // when a pending upstream reply is given up
    std::size_t bytes_sent = 0; // request payload size
    std::string fallback;       // why it ran here although placed upstream
    bool have_remote = false;
    std::vector<float> remote_scores;
    tierd_inference_result remote{};
    std::string remote_device;
    double offload_ms = 0.0;
    uint64_t offload_start_ns = 0;

    std::string error; // set when the task failed; the result carries it
};

struct Pipeline::Work {
    std::function<void()> on_worker;
    std::function<void()> on_loop;
};

Pipeline::Pipeline(uv_loop_t *loop, PipelineOptions options, PluginsNow plugins, Publish publish,
                   Release release)
    : loop_(loop), options_(std::move(options)), plugins_now_(std::move(plugins)),
      publish_(std::move(publish)), release_(std::move(release)) {}

Pipeline::~Pipeline() {
    if (jsonl_ != nullptr)
        std::fclose(jsonl_);
}

void Pipeline::queue(std::unique_ptr<Work> work) {
    ++jobs_;
    queue_loop_work(
        loop_, std::move(work->on_worker),
        [this, on_loop = std::move(work->on_loop)] {
            --jobs_;
            if (on_loop)
                on_loop();
            maybe_stopped();
        },
        "pipeline work");
}

void Pipeline::start() {
    started_ = uv_hrtime();
    uv_timer_init(loop_, &rate_timer_);
    rate_timer_.data = this;
    uv_timer_init(loop_, &sweep_timer_);
    sweep_timer_.data = this;
    workers_ = std::max(1, options_.workers);
    start_probing();
    if (options_.source.rate_hz > 0.0) {
        // Ticks of at least 1 ms; each grants rate * period tokens.
        uint64_t period =
            std::max<uint64_t>(1, static_cast<uint64_t>(1000.0 / options_.source.rate_hz));
        uv_timer_start(&rate_timer_, &Pipeline::on_rate_tick, period, period);
        rate_timer_running_ = true;
    }
    if (options_.source.kind == SourceKind::topic) {
        // Images arrive by push(); nothing to open.
        source_text_ = "topic:tierd/v1/dev/" + options_.device_id + "/input";
        state_ = "running";
        spdlog::info("source: {}", source_text_);
        dispatch(); // what was pushed before the start
        return;
    }
    auto opened = std::make_shared<std::shared_ptr<ImageSource>>();
    auto error = std::make_shared<std::string>();
    auto work = std::make_unique<Work>();
    work->on_worker = [opened, error, config = options_.source] {
        try {
            *opened = open_image_source(config);
        } catch (const std::exception &e) {
            *error = e.what();
        }
    };
    work->on_loop = [this, opened, error] {
        if (!*opened) {
            error_ = *error;
            state_ = "failed";
            spdlog::error("source: {}", error_);
            return;
        }
        source_ = *opened;
        source_text_ = source_->describe();
        if (stopping_)
            return;
        state_ = "running";
        spdlog::info("source: {}", source_text_);
        request_batch();
    };
    queue(std::move(work));
}

void Pipeline::push(std::string payload) {
    if (stopping_ || options_.source.kind != SourceKind::topic)
        return;
    if (buffered_.size() + static_cast<std::size_t>(in_flight_) >=
        max_waiting_inputs(options_.max_in_flight)) {
        ++dropped_;
        return;
    }
    const uint64_t n = pushed_++;
    auto data = std::make_shared<std::string>(std::move(payload));
    auto image = std::make_shared<SourceImage>();
    auto work = std::make_unique<Work>();
    // decode_input_image (image_source.hpp) passes only the image formats the contract
    // names to OpenCV: its other decoders are large attack surface for untrusted bytes.
    work->on_worker = [data, image, n] {
        if (auto img = decode_input_image(*data, n))
            *image = std::move(*img);
    };
    work->on_loop = [this, image] {
        if (image->image.empty()) {
            ++undecodable_;
            spdlog::warn("source: an input message is not a decodable image; dropped");
            return;
        }
        buffered_.push_back(std::move(*image));
        dispatch();
    };
    queue(std::move(work));
}

void Pipeline::on_rate_tick(uv_timer_t *timer) {
    auto *self = static_cast<Pipeline *>(timer->data);
    double period_s = static_cast<double>(uv_timer_get_repeat(timer)) / 1000.0;
    // Tokens do not pile up while the pipeline is saturated: at most one tick's worth
    // plus one waits.
    self->tokens_ = std::min(self->tokens_ + self->options_.source.rate_hz * period_s,
                             self->options_.source.rate_hz * period_s + 1.0);
    self->dispatch();
}

void Pipeline::request_batch() {
    if (reading_ || source_done_ || stopping_ || !source_)
        return;
    const uint64_t limit = static_cast<uint64_t>(options_.source.limit);
    std::size_t want = kBatch;
    if (limit > 0) {
        uint64_t taken = next_seq_ + buffered_.size();
        if (taken >= limit) {
            source_done_ = true;
            return;
        }
        want = static_cast<std::size_t>(std::min<uint64_t>(want, limit - taken));
    }
    reading_ = true;
    auto batch = std::make_shared<std::vector<SourceImage>>();
    auto error = std::make_shared<std::string>();
    auto end = std::make_shared<bool>(false);
    auto work = std::make_unique<Work>();
    work->on_worker = [src = source_, batch, error, end, want] {
        try {
            while (batch->size() < want) {
                auto img = src->next();
                if (!img) {
                    *end = true;
                    break;
                }
                batch->push_back(std::move(*img));
            }
        } catch (const std::exception &e) {
            *error = e.what();
            *end = true;
        }
    };
    work->on_loop = [this, batch, error, end] {
        reading_ = false;
        for (auto &img : *batch)
            buffered_.push_back(std::move(img));
        if (!error->empty()) {
            error_ = *error;
            spdlog::error("source: {}", error_);
        }
        if (*end)
            source_done_ = true;
        dispatch();
    };
    queue(std::move(work));
}

void Pipeline::dispatch() {
    // Nothing runs before start(): its timers are not initialised yet, and task ids carry
    // the start time (an id from before it would repeat after every restart). Images pushed
    // before then wait in buffered_; start() dispatches them.
    if (started_ == 0)
        return;
    while (!stopping_ && !buffered_.empty() && in_flight_ < options_.max_in_flight) {
        if (admit_ && !admit_()) {
            if (!blocked_)
                spdlog::info("pipeline: waiting for room in the spool (spool.when_full = block)");
            blocked_ = true;
            break;
        }
        if (blocked_)
            spdlog::info("pipeline: room in the spool again; the source goes on");
        blocked_ = false;
        if (rate_timer_running_) {
            if (tokens_ < 1.0)
                break;
            tokens_ -= 1.0;
        }
        SourceImage img = std::move(buffered_.front());
        buffered_.pop_front();
        start_task(std::move(img));
    }
    // Keep one batch ahead of what the workers can take.
    if (buffered_.size() < kBatch)
        request_batch();
    if (source_done_ && buffered_.empty() && in_flight_ == 0 && pending_.empty() &&
        state_ == "running") {
        state_ = "finished";
        spdlog::info("source finished: {} tasks done, {} failed", done_, failed_);
        if (rate_timer_running_) {
            uv_timer_stop(&rate_timer_);
            rate_timer_running_ = false;
        }
    }
}

void Pipeline::start_task(SourceImage img) {
    auto task = std::make_unique<Task>();
    task->seq = next_seq_++;
    task->in = std::move(img);
    task->plugins = plugins_now_();
    task->task_id =
        options_.device_id + "-" + std::to_string(started_) + "-" + std::to_string(task->seq);
    task->source = to_string(options_.source.kind);
    task->source += ":" + task->in.id;
    const cv::Mat &m = task->in.image;
    task->image.struct_size = sizeof(tierd_image);
    task->image.format = m.channels() == 1 ? TIERD_PIXEL_GRAY8 : TIERD_PIXEL_BGR8;
    task->image.width = m.cols;
    task->image.height = m.rows;
    task->image.stride_bytes = static_cast<int32_t>(m.step[0]);
    task->image.data = m.data;
    task->task.struct_size = sizeof(tierd_task);
    task->task.task_id = task->task_id.c_str();
    task->task.source = task->source.c_str();
    task->start_ns = uv_hrtime();
    task->task.created_ns = task->start_ns;
    task->task.image = &task->image;
    ++in_flight_;

    // Stage 1 (worker): with local_first, the local model's answer first (the
    // pre-classifier and the scheduler see it as task.local_result); then the
    // preclassifier's features and routing hint.
    auto work = std::make_unique<Work>();
    Task *t = task.get();
    work->on_worker = [t, local_first = options_.local_first,
                       slowdown = options_.emulate_slowdown] {
        if (local_first && t->plugins.inference) {
            infer_here(*t, "", slowdown);
            t->local_first = true;
            if (t->have_local)
                t->task.local_result = &t->local;
        }
        if (!t->plugins.preclassifier)
            return;
        uint64_t start = uv_hrtime();
        t->pre.features = t->features.data();
        t->pre.feature_capacity = kMaxFeatures;
        auto r = t->plugins.preclassifier->classify(t->task, t->pre);
        t->classify_ms = emulate(ms_since(start), slowdown);
        t->have_pre = r.ok();
        if (!r.ok())
            spdlog::warn("task {}: preclassifier: {}", t->task_id, r.to_string());
    };
    work->on_loop = [this, owned = std::make_shared<std::unique_ptr<Task>>(std::move(task))] {
        after_classify(std::move(*owned));
    };
    queue(std::move(work));
}

void Pipeline::after_classify(std::unique_ptr<Task> task) {
    // Stage 2 (loop): the scheduler's placement.
    if (task->plugins.scheduler) {
        tierd_schedule_context context{};
        context.struct_size = sizeof context;
        context.local_tier = options_.local_tier;
        context.battery_fraction = -1.0;
        // Tasks ahead of this one (in_flight_ counts this one too).
        context.local_queue_depth = static_cast<uint32_t>(in_flight_ - 1 + buffered_.size());
        // The upstream tiers as this agent sees them: reachable when an agent of that tier
        // is online and the link is not degraded; the estimates come from link probes and
        // real offload round trips (link_estimator.hpp).
        tierd_link_state edge{}, cloud{};
        const uint64_t now = uv_hrtime();
        for (auto [state, tier] : {std::pair{&edge, TIERD_TIER_EDGE}, {&cloud, TIERD_TIER_CLOUD}}) {
            const LinkEstimator::Estimate e = link(tier).estimate(now);
            state->struct_size = sizeof(tierd_link_state);
            state->connected = upstream_.online && upstream_.online(tier) && !e.degraded ? 1 : 0;
            state->bandwidth_bps = e.bandwidth_bps;
            state->rtt_ms = std::max(0.0, e.rtt_ms);
            state->bandwidth_stddev_bps = e.bandwidth_stddev_bps;
            state->rtt_stddev_ms = e.rtt_stddev_ms;
            state->queue_ms = std::max(0.0, e.queue_ms);
            state->queue_depth = e.queue_depth;
            state->degraded = e.degraded ? 1 : 0;
        }
        if (upstream_.online) {
            context.edge = &edge;
            context.cloud = &cloud;
        }
        if (upstream_.profiles) {
            auto [json, generation] = upstream_.profiles();
            context.profiles_json = json != nullptr ? json->c_str() : nullptr;
            context.profiles_generation = generation;
        }
        // Tasks ahead of this one share the workers; the mean local compute time so far
        // (of tasks that computed here) says how long each holds one.
        context.local_queue_ms =
            static_cast<double>(context.local_queue_depth) *
            (local_computed_ > 0 ? infer_ms_sum_ / static_cast<double>(local_computed_) : 0.0) /
            std::max(1, workers_);
        context.compute_power_w = options_.compute_power_w;
        context.power_source = options_.power_source.c_str();
        const uint64_t decide_start = uv_hrtime();
        auto r = task->plugins.scheduler->decide(task->task, task->have_pre ? &task->pre : nullptr,
                                                 context, task->decision);
        decide_us_[decide_count_++ % decide_us_.size()] =
            static_cast<float>(uv_hrtime() - decide_start) / 1e3f;
        if (!r.ok()) {
            spdlog::warn("task {}: scheduler: {}; running it here", task->task_id, r.to_string());
            task->decision = tierd_decision{};
        }
    }
    if (task->decision.tier == 0)
        task->decision.tier = options_.local_tier;
    task->upstream = task->decision.tier != options_.local_tier;
    task->split = task->upstream && task->decision.split_layer >= 0;
    if (task->upstream) {
        const tierd_tier tier = task->decision.tier;
        if (!upstream_.send || !upstream_.online || !upstream_.online(tier))
            task->fallback = std::string("no-") + tier_name(tier) + "-online";
        else if (task->split)
            return run_head(std::move(task));
        else
            return send_offload(std::move(task));
    }
    run_local(std::move(task));
}

void Pipeline::run_head(std::unique_ptr<Task> task) {
    ++splits_;
    auto work = std::make_unique<Work>();
    Task *t = task.get();
    work->on_worker = [t, slowdown = options_.emulate_slowdown, capacity = &head_capacity_] {
        if (!t->plugins.inference) {
            t->fallback = "head-failed: no inference plugin is loaded";
            return;
        }
        const std::string model = fixed_string(t->decision.model, sizeof t->decision.model);
        tierd_inference_result meta{};
        meta.struct_size = sizeof meta;
        meta.scores = t->scores.data();
        meta.score_capacity = kMaxScores;
        const uint64_t start = uv_hrtime();
        PluginCallResult r;
        // The tensor's size is the plugin's to say: one retry with what it asks for (the
        // head then runs twice), and later tasks start with the largest size seen.
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (t->tensor.empty())
                t->tensor.resize(capacity->load(std::memory_order_relaxed));
            t->head.data = t->tensor.data();
            t->head.capacity = static_cast<uint32_t>(t->tensor.size());
            r = t->plugins.inference->infer_head(t->task, model, t->decision.split_layer, t->head,
                                                 meta);
            if (r.code != TIERD_ERANGE || t->head.count <= t->tensor.size())
                break;
            t->tensor.resize(t->head.count);
            uint32_t seen = capacity->load(std::memory_order_relaxed);
            while (seen < t->head.count && !capacity->compare_exchange_weak(
                                               seen, t->head.count, std::memory_order_relaxed)) {
            }
        }
        t->head_ms = emulate(ms_since(start), slowdown);
        if (!r.ok()) {
            t->fallback = "head-failed: " + r.to_string();
            return;
        }
        t->tensor.resize(t->head.count);
        t->head_energy_j = meta.energy_j; // as infer_here: the real computation's
    };
    work->on_loop = [this, owned = std::make_shared<std::unique_ptr<Task>>(std::move(task))] {
        std::unique_ptr<Task> done = std::move(*owned);
        if (!done->fallback.empty()) {
            ++split_fallbacks_;
            return run_local(std::move(done));
        }
        send_offload(std::move(done));
    };
    queue(std::move(work));
}

void Pipeline::send_offload(std::unique_ptr<Task> task) {
    const tierd_tier tier = task->decision.tier;
    OffloadRequest request;
    request.task_id = task->task_id;
    request.device_id = options_.device_id;
    request.model = fixed_string(task->decision.model, sizeof task->decision.model);
    request.deadline_ms = options_.offload_timeout_ms;
    if (task->split) {
        request.payload = OffloadRequest::Payload::tensor;
        request.cut_layer = task->decision.split_layer;
        const std::string wire = fixed_string(task->decision.wire, sizeof task->decision.wire);
        request.wire = wire.empty() ? "f16" : wire;
        request.shape.assign(task->head.shape, task->head.shape + std::min(task->head.rank, 4u));
        request.tensor = std::move(task->tensor);
        task->tensor.clear();
    } else {
        request.image = task->in.image;
    }
    std::string payload;
    try {
        payload = encode_offload_request(request);
    } catch (const std::exception &e) {
        task->fallback = std::string("encode-failed: ") + e.what();
        return run_local(std::move(task));
    }
    task->bytes_sent = payload.size();
    task->offload_start_ns = uv_hrtime();
    if (!upstream_.send(tier, payload, task->task_id)) {
        link(tier).on_error();
        task->fallback = "broker-unreachable";
        return run_local(std::move(task));
    }
    task->deadline_ns =
        task->offload_start_ns + static_cast<uint64_t>(options_.offload_timeout_ms) * 1000000u;
    std::string id = task->task_id;
    pending_.emplace(std::move(id), std::move(task));
    if (!sweeping_) {
        uv_timer_start(&sweep_timer_, &Pipeline::on_sweep, 5, 5);
        sweeping_ = true;
    }
}

void Pipeline::on_offload_reply(const std::string &payload) {
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
    std::unique_ptr<Task> task = std::move(it->second);
    pending_.erase(it);
    task->offload_ms = ms_since(task->offload_start_ns);
    LinkEstimator &estimator = link(task->decision.tier);
    const uint64_t now = uv_hrtime();
    estimator.on_queue(reply->queue_ms, reply->queue_depth, now);
    if (reply->ok)
        estimator.on_offload(task->offload_ms, reply->compute_ms + std::max(0.0, reply->queue_ms),
                             task->bytes_sent, payload.size(), now);
    else
        estimator.on_error();
    if (!reply->ok) {
        task->fallback = "upstream-error: " + reply->error_code + ": " + reply->error_message;
        return run_local(std::move(task));
    }
    task->have_remote = true;
    task->error.clear(); // a failed local_first answer does not fail a task answered upstream
    task->remote_device = reply->device_id;
    task->remote_scores = std::move(reply->scores);
    task->remote.struct_size = sizeof task->remote;
    task->remote.scores = task->remote_scores.data();
    task->remote.score_capacity = static_cast<uint32_t>(task->remote_scores.size());
    task->remote.score_count = static_cast<uint32_t>(task->remote_scores.size());
    task->remote.top_class = reply->top_class;
    task->remote.top_score = reply->top_score;
    std::snprintf(task->remote.model, sizeof task->remote.model, "%s", reply->model.c_str());
    task->remote.compute_ms = reply->compute_ms;
    task->remote.energy_j = reply->energy_j;
    std::snprintf(task->remote.energy_source, sizeof task->remote.energy_source, "%s",
                  reply->energy_source.c_str());
    after_infer(std::move(task));
}

void Pipeline::start_probing() {
    if (probing_ || stopping_ || options_.probe_interval_ms <= 0 || !upstream_.send)
        return;
    uv_timer_init(loop_, &probe_timer_);
    probe_timer_.data = this;
    probing_ = true;
    // Each tick probes one tier: twice per interval, so each tier once per interval.
    uv_timer_start(&probe_timer_, &Pipeline::on_probe_tick, 0,
                   std::max<uint64_t>(1, static_cast<uint64_t>(options_.probe_interval_ms) / 2));
}

void Pipeline::probe_now() {
    if (probing_ && !stopping_)
        on_probe_tick(&probe_timer_);
}

void Pipeline::on_probe_tick(uv_timer_t *timer) {
    auto *self = static_cast<Pipeline *>(timer->data);
    if (self->stopping_ || !self->upstream_.send || !self->upstream_.online)
        return;
    const uint64_t now = uv_hrtime();
    // Probes that never came back count as timeouts once the offload timeout has passed.
    for (auto it = self->probes_.begin(); it != self->probes_.end();) {
        if (now - it->second.sent_ns >
            static_cast<uint64_t>(self->options_.offload_timeout_ms) * 1000000u) {
            if (it->second.rtt_ms < 0.0)
                self->link(it->second.tier).on_timeout();
            it = self->probes_.erase(it);
        } else {
            ++it;
        }
    }
    // One tier per tick, alternating, so that one tier's large probe never delays the
    // other's small one in the end's single connection (it would read as a longer RTT).
    for (tierd_tier tier : {self->probe_seq_ % 2 == 0 ? TIERD_TIER_EDGE : TIERD_TIER_CLOUD}) {
        if (!self->upstream_.online(tier)) {
            ++self->probe_seq_; // the other tier's turn next time
            continue;
        }
        // The large probe should take a few ms at the current estimate: long enough to
        // measure, short enough not to load a slow link, and within TCP's initial
        // congestion window (10 segments, ~14 KB): an app-limited connection seldom grows
        // past it, and a probe beyond it waits a whole extra round trip, which would read
        // as a slow link.
        const double bps = self->link(tier).estimate(now).bandwidth_bps;
        const std::size_t large =
            bps > 0.0
                ? std::clamp<std::size_t>(static_cast<std::size_t>(bps * 0.005 / 8.0), 2048, 8192)
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
}

void Pipeline::on_probe_reply(const std::string &id) {
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

nlohmann::json Pipeline::decide_percentiles() const {
    const std::size_t n = std::min<std::size_t>(decide_count_, decide_us_.size());
    if (n == 0)
        return nlohmann::json::object();
    std::vector<float> v(decide_us_.begin(), decide_us_.begin() + static_cast<std::ptrdiff_t>(n));
    std::sort(v.begin(), v.end());
    auto at = [&](double q) { return v[static_cast<std::size_t>(q * static_cast<double>(n - 1))]; };
    return {{"p50", at(0.5)}, {"p99", at(0.99)}, {"max", v.back()}, {"samples", n}};
}

nlohmann::json Pipeline::links_json() const {
    nlohmann::json j = nlohmann::json::object();
    const uint64_t now = uv_hrtime();
    for (auto [name, index] : {std::pair{"edge", 0}, {"cloud", 1}}) {
        const auto e = links_[index].estimate(now);
        if (e.samples_rtt == 0 && e.samples_bw == 0 && e.timeouts == 0)
            continue;
        j[name] = {{"bandwidth_bps", e.bandwidth_bps},
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
    return j;
}

void Pipeline::on_sweep(uv_timer_t *timer) {
    auto *self = static_cast<Pipeline *>(timer->data);
    const uint64_t now = uv_hrtime();
    for (auto it = self->pending_.begin(); it != self->pending_.end();) {
        if (it->second->deadline_ns > now) {
            ++it;
            continue;
        }
        std::unique_ptr<Task> task = std::move(it->second);
        it = self->pending_.erase(it);
        task->fallback = "timeout";
        self->link(task->decision.tier).on_timeout();
        self->run_local(std::move(task));
    }
    if (self->pending_.empty()) {
        uv_timer_stop(timer);
        self->sweeping_ = false;
    }
}

// Runs the inference plugin here on `task` (worker thread). The plugin's own infer()
// never sees a local_result: it is the one producing it.
void Pipeline::infer_here(Task &t, const char *model, double slowdown) {
    if (!t.plugins.inference) {
        t.error = "no inference plugin is loaded";
        return;
    }
    const tierd_inference_result *seen = t.task.local_result;
    t.task.local_result = nullptr;
    uint64_t start = uv_hrtime();
    t.local = tierd_inference_result{};
    t.local.struct_size = sizeof t.local;
    t.local.scores = t.scores.data();
    t.local.score_capacity = kMaxScores;
    auto r = t.plugins.inference->infer(t.task, model, t.local);
    t.infer_ms = emulate(ms_since(start), slowdown);
    if (slowdown > 1.0)
        t.local.compute_ms *= slowdown;
    t.task.local_result = seen;
    t.have_local = r.ok();
    if (r.ok())
        t.error.clear();
    else
        t.error = "inference: " + r.to_string();
}

void Pipeline::run_local(std::unique_ptr<Task> task) {
    // A task placed upstream that runs here after all (fallback) takes this tier's default
    // model: the upstream model is usually not loaded here. With local_first that answer
    // exists already and is kept; so is it when the scheduler kept the task here on the
    // model that already answered.
    // A split task's model is loaded here (its head ran here), so it runs whole.
    const std::string wanted =
        task->upstream && !task->split
            ? std::string()
            : fixed_string(task->decision.model, sizeof task->decision.model);
    if (task->local_first && task->have_local &&
        (wanted.empty() || wanted == fixed_string(task->local.model, sizeof task->local.model)))
        return after_infer(std::move(task));
    // Stage 3 (worker): inference here.
    auto work = std::make_unique<Work>();
    Task *t = task.get();
    work->on_worker = [t, wanted, slowdown = options_.emulate_slowdown] {
        infer_here(*t, wanted.c_str(), slowdown);
    };
    work->on_loop = [this, owned = std::make_shared<std::unique_ptr<Task>>(std::move(task))] {
        after_infer(std::move(*owned));
    };
    queue(std::move(work));
}

void Pipeline::after_infer(std::unique_ptr<Task> task) {
    // Stage 4 (loop): fusion of the local result (and, later, a remote one).
    if ((task->have_local || task->have_remote) && task->plugins.fusion) {
        task->fused.scores = task->fused_scores.data();
        task->fused.score_capacity = kMaxScores;
        auto r =
            task->plugins.fusion->fuse(task->task, task->have_local ? &task->local : nullptr,
                                       task->have_remote ? &task->remote : nullptr, task->fused);
        task->have_fused = r.ok();
        if (!r.ok())
            spdlog::warn("task {}: fusion: {}; using the local result", task->task_id,
                         r.to_string());
    }
    finish(std::move(task));
}

void Pipeline::finish(std::unique_ptr<Task> task) {
    --in_flight_;
    const double total_ms = ms_since(task->start_ns);
    const tierd_inference_result &r =
        task->have_fused ? task->fused : (task->have_remote ? task->remote : task->local);
    const tierd_tier ran_on = task->have_remote ? task->decision.tier : options_.local_tier;
    nlohmann::json doc = {
        {"v", 1},
        {"task_id", task->task_id},
        {"device_id", options_.device_id},
        {"source", task->source},
        {"tier", tier_name(ran_on)},
        {"requested_tier", tier_name(task->decision.tier)},
        {"reason", fixed_string(task->decision.reason, sizeof task->decision.reason)},
        {"bytes_sent", task->bytes_sent}};
    if (task->have_remote) {
        doc["offloaded_to"] = task->remote_device;
        doc["offload_ms"] = task->offload_ms;
    }
    if (task->split) {
        const std::string wire = fixed_string(task->decision.wire, sizeof task->decision.wire);
        doc["split"] = {{"layer", task->decision.split_layer},
                        {"wire", wire.empty() ? "f16" : wire},
                        {"head_ms", task->head_ms}};
        if (task->head_energy_j >= 0.0)
            doc["split"]["head_energy_j"] = task->head_energy_j;
    }
    if (!task->fallback.empty()) {
        doc["fallback"] = task->fallback;
        ++fallbacks_;
    }
    if (task->in.label >= 0)
        doc["label"] = task->in.label;
    if (task->have_pre) {
        doc["route"] = route_name(task->pre.route);
        if (task->pre.light_ok_probability >= 0.0f)
            doc["light_ok_probability"] = task->pre.light_ok_probability;
    }
    doc["timing_ms"] = {
        {"preclassify", task->classify_ms}, {"inference", task->infer_ms}, {"total", total_ms}};
    if (task->local_first)
        doc["local_first"] = true;
    if (options_.emulate_slowdown > 1.0)
        doc["emulated_slowdown"] = options_.emulate_slowdown;
    const bool ok = task->error.empty() && (task->have_local || task->have_remote);
    if (ok) {
        doc["ok"] = true;
        doc["top_class"] = r.top_class;
        doc["top_score"] = r.top_score;
        doc["model"] = fixed_string(r.model, sizeof r.model);
        doc["compute_ms"] = r.compute_ms;
        if (r.energy_j >= 0.0) {
            doc["energy_j"] = r.energy_j;
            doc["energy_source"] = fixed_string(r.energy_source, sizeof r.energy_source);
        }
        if (task->in.label >= 0) {
            const bool correct = r.top_class == task->in.label;
            doc["correct"] = correct;
            ++labelled_;
            correct_ += correct ? 1 : 0;
        }
        if (upstream_.observed_compute && !task->split) {
            if (task->have_remote)
                upstream_.observed_compute(
                    task->remote_device,
                    fixed_string(task->remote.model, sizeof task->remote.model),
                    task->remote.compute_ms);
            else if (task->have_local)
                upstream_.observed_compute(
                    "", fixed_string(task->local.model, sizeof task->local.model), task->infer_ms);
        }
        ++done_;
        ++by_tier_[ran_on];
        total_ms_sum_ += total_ms;
        if (task->infer_ms + task->head_ms > 0.0) {
            infer_ms_sum_ += task->infer_ms + task->head_ms;
            ++local_computed_;
        }
    } else {
        doc["ok"] = false;
        doc["error"] = task->error.empty() ? "no result" : task->error;
        ++failed_;
    }

    std::string line = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (options_.results.publish)
        publish_(line);
    if (!options_.results.jsonl.empty())
        write_jsonl(line + "\n");

    // A plugin unloaded while this task ran is destroyed when its last user lets go:
    // hand the reference to a worker rather than block the loop in its destroy().
    for (auto *p : {&task->plugins.scheduler, &task->plugins.preclassifier,
                    &task->plugins.inference, &task->plugins.fusion})
        if (*p && p->use_count() == 1)
            release_(std::move(*p));
    dispatch();
}

void Pipeline::write_jsonl(std::string line) {
    jsonl_pending_ += line;
    if (jsonl_writing_)
        return;
    jsonl_writing_ = true;
    auto chunk = std::make_shared<std::string>(std::move(jsonl_pending_));
    jsonl_pending_.clear();
    auto error = std::make_shared<std::string>();
    auto work = std::make_unique<Work>();
    work->on_worker = [this, chunk, error] {
        // Only this job touches jsonl_ while jsonl_writing_ is set.
        if (jsonl_ == nullptr)
            jsonl_ = std::fopen(options_.results.jsonl.c_str(), "a");
        if (jsonl_ == nullptr ||
            std::fwrite(chunk->data(), 1, chunk->size(), jsonl_) != chunk->size() ||
            std::fflush(jsonl_) != 0)
            *error = options_.results.jsonl + ": " + std::strerror(errno);
    };
    work->on_loop = [this, error] {
        jsonl_writing_ = false;
        if (!error->empty())
            spdlog::error("results: cannot write {}", *error);
        if (!jsonl_pending_.empty())
            write_jsonl(std::string());
    };
    queue(std::move(work));
}

void Pipeline::stop(std::function<void()> done) {
    if (stopping_)
        return;
    stopping_ = true;
    stop_done_ = std::move(done);
    buffered_.clear();
    if (state_ == "running" || state_ == "starting")
        state_ = "stopped";
    if (rate_timer_running_)
        uv_timer_stop(&rate_timer_);
    rate_timer_running_ = false;
    // Tasks waiting for an upstream reply finish here instead.
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto &[id, task] : pending) {
        task->fallback = "stopping";
        run_local(std::move(task));
    }
    if (probing_) {
        probing_ = false;
        uv_timer_stop(&probe_timer_);
        ++jobs_;
        uv_close(reinterpret_cast<uv_handle_t *>(&probe_timer_), [](uv_handle_t *h) {
            auto *self = static_cast<Pipeline *>(h->data);
            --self->jobs_;
            self->maybe_stopped();
        });
    }
    if (started_ != 0) {
        for (uv_timer_t *t : {&rate_timer_, &sweep_timer_}) {
            ++jobs_; // a timer's close callback counts as work still running
            uv_close(reinterpret_cast<uv_handle_t *>(t), [](uv_handle_t *h) {
                auto *self = static_cast<Pipeline *>(h->data);
                --self->jobs_;
                self->maybe_stopped();
            });
        }
    }
    maybe_stopped();
}

void Pipeline::maybe_stopped() {
    if (!stopping_ || jobs_ > 0 || in_flight_ > 0 || jsonl_writing_ || !stop_done_)
        return;
    auto done = std::move(stop_done_);
    stop_done_ = nullptr;
    done();
}

nlohmann::json Pipeline::stats() const {
    nlohmann::json j = {
        {"source", source_text_.empty()
                       ? std::string(to_string(options_.source.kind)) + ":" + options_.source.path
                       : source_text_},
        {"state", state_},
        {"blocked", blocked_},
        {"done", done_},
        {"failed", failed_},
        {"in_flight", in_flight_},
        {"queued", buffered_.size()},
        {"by_tier",
         {{"end", by_tier_[TIERD_TIER_END]},
          {"edge", by_tier_[TIERD_TIER_EDGE]},
          {"cloud", by_tier_[TIERD_TIER_CLOUD]}}},
        {"fallbacks", fallbacks_},
        {"offload_pending", pending_.size()},
        {"late_replies", late_replies_},
        {"pushed", pushed_},
        {"dropped", dropped_},
        {"undecodable", undecodable_},
        {"splits", splits_},
        {"decide_us", decide_percentiles()},
        {"split_fallbacks", split_fallbacks_},
        {"links", links_json()},
        {"labelled", labelled_},
        {"correct", correct_},
        {"mean_ms", done_ ? total_ms_sum_ / static_cast<double>(done_) : 0.0}};
    if (labelled_ > 0)
        j["top1"] = static_cast<double>(correct_) / static_cast<double>(labelled_);
    if (!error_.empty())
        j["error"] = error_;
    return j;
}

} // namespace tierd
