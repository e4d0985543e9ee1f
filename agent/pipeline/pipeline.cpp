#include "agent/pipeline/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

namespace tierd {
namespace {

constexpr std::uint32_t kMaxFeatures = 64; // preclassifier feature buffer
constexpr std::uint32_t kMaxScores = 1024; // class scores buffer
// The local detector's feature map before it asks for more: det-light's p8 is 64 x 22 x 40.
constexpr std::uint32_t kLocalFeatureFloats = 64 * 1024;

const char *tier_name(tierd_tier tier) {
    switch (tier) {
    case TIERD_TIER_END: return "end";
    case TIERD_TIER_EDGE: return "edge";
    case TIERD_TIER_CLOUD: return "cloud";
    }
    return "end";
}

double ms_since(std::uint64_t start_ns) {
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

unsigned concurrency(const std::shared_ptr<PluginInstance> &plugin) {
    return plugin ? plugin->max_concurrent_calls() : 1u;
}

} // namespace

Pipeline::Pipeline(uv_loop_t *loop, PipelineOptions options, PluginsNow plugins, Publish publish,
                   Release release, std::shared_ptr<PluginInstance> source,
                   std::string source_failure)
    : loop_(loop), options_(std::move(options)), plugins_now_(std::move(plugins)),
      release_(std::move(release)),
      intake_(
          loop,
          FrameIntake::Options{options_.source, options_.device_id,
                               max_waiting_inputs(options_.max_in_flight),
                               options_.max_waiting_bytes, options_.max_pixels, options_.overflow},
          std::move(source), std::move(source_failure), [this] { dispatch(); },
          [this] { return static_cast<std::size_t>(in_flight_); }),
      offload_(loop,
               OffloadClient::Options{
                   options_.device_id, options_.offload_timeout_ms, options_.probe_interval_ms,
                   options_.frame_resend, options_.frame_low_scale, options_.frame_low_quality,
                   static_cast<float>(options_.resend_sure),
                   static_cast<float>(options_.resend_unsure), options_.resend_mosaic,
                   static_cast<float>(options_.resend_margin)},
               [this](TaskPtr task) {
                   if (task->key_frame_copy)
                       return key_frame_answered(std::move(task));
                   if (task->label_copy)
                       return label_answered(std::move(task));
                   // Answered upstream, or back to run here (task->offload.fallback).
                   if (task->remote.ok)
                       return fuse(std::move(task));
                   run_local(std::move(task));
               }),
      sink_(loop,
            ResultSink::Options{options_.results, options_.device_id, options_.local_tier,
                                options_.emulate_slowdown},
            std::move(publish)),
      prepare_lane_(
          loop, 1, 32,
          [local_first = options_.local_first,
           slowdown = options_.emulate_slowdown](std::vector<TaskPtr> &tasks) {
              for (auto &t : tasks)
                  prepare_on_worker(*t, local_first, slowdown);
          },
          [this](TaskPtr task) { prepared(std::move(task)); }, "pipeline prepare"),
      infer_lane_(
          loop, 1, std::max<std::size_t>(1, options_.max_batch),
          [slowdown = options_.emulate_slowdown](std::vector<TaskPtr> &tasks) {
              infer_on_worker(tasks, slowdown);
          },
          [this](TaskPtr task) { fuse(std::move(task)); }, "pipeline inference"),
      head_lane_(
          loop, 1, 8,
          [this, slowdown = options_.emulate_slowdown](std::vector<TaskPtr> &tasks) {
              for (auto &t : tasks)
                  head_on_worker(*t, slowdown, head_capacity_);
          },
          [this](TaskPtr task) {
              if (!task->offload.fallback.empty()) {
                  ++split_fallbacks_;
                  return run_local(std::move(task));
              }
              offload_.send(std::move(task));
          },
          "pipeline head"),
      fuse_lane_(
          loop, 1, 8,
          [](std::vector<TaskPtr> &tasks) {
              for (auto &t : tasks)
                  fuse_frame_on_worker(*t);
          },
          [this](TaskPtr task) { stream_frame_fused(std::move(task)); }, "pipeline video fusion"),
      learn_lane_(
          loop, 1, kMaxLearning,
          [this](std::vector<TaskPtr> &tasks) {
              for (auto &t : tasks)
                  learn_on_worker(*t);
          },
          [this](TaskPtr task) {
              recycle(std::move(task));
              maybe_stopped();
          },
          "pipeline learning") {
    for (auto *lane : {&prepare_lane_, &infer_lane_, &head_lane_, &fuse_lane_, &learn_lane_})
        lane->on_job_done = [this] { maybe_stopped(); };
}

Pipeline::~Pipeline() = default;

void Pipeline::start() {
    started_ = uv_hrtime();
    uv_timer_init(loop_, &rate_timer_);
    rate_timer_.data = this;
    offload_.start();
    if (options_.source.rate_hz > 0.0) {
        // Ticks of at least 1 ms; each grants rate * period tokens.
        const uint64_t period =
            std::max<uint64_t>(1, static_cast<uint64_t>(1000.0 / options_.source.rate_hz));
        uv_timer_start(&rate_timer_, &Pipeline::on_rate_tick, period, period);
        rate_timer_running_ = true;
    }
    intake_.start();
    dispatch(); // what was pushed before the start
}

void Pipeline::on_rate_tick(uv_timer_t *timer) {
    auto *self = static_cast<Pipeline *>(timer->data);
    const double period_s = static_cast<double>(uv_timer_get_repeat(timer)) / 1000.0;
    // Tokens do not pile up while the pipeline is saturated: at most one tick's worth
    // plus one waits.
    self->tokens_ = std::min(self->tokens_ + self->options_.source.rate_hz * period_s,
                             self->options_.source.rate_hz * period_s + 1.0);
    self->dispatch();
}

void Pipeline::dispatch() {
    // Nothing runs before start(): its timers are not initialised yet, and task ids carry
    // the start time (an id from before it would repeat after every restart). Images pushed
    // before then wait in the intake; start() dispatches them.
    if (started_ == 0)
        return;
    while (!stopping_ && intake_.has_image() && in_flight_ < options_.max_in_flight) {
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
        start_task(intake_.take());
    }
    intake_.read_ahead(); // keep one batch ahead of what the workers take
    if (intake_.exhausted() && in_flight_ == 0 && offload_.pending() == 0 &&
        intake_.state() == "running") {
        intake_.set_state("finished");
        finished_ = uv_hrtime();
        spdlog::info("source finished: {} tasks done, {} failed in {:.3f} s", sink_.done(),
                     sink_.failed(), static_cast<double>(finished_ - started_) / 1e9);
        if (rate_timer_running_) {
            uv_timer_stop(&rate_timer_);
            rate_timer_running_ = false;
        }
    }
}

TaskPtr Pipeline::new_task() {
    TaskPtr task;
    if (!spare_tasks_.empty()) {
        task = std::move(spare_tasks_.back());
        spare_tasks_.pop_back();
    } else {
        task = std::make_unique<Task>();
        task->pre.features.resize(kMaxFeatures);
    }
    return task;
}

void Pipeline::start_task(SourceImage img) {
    TaskPtr task = new_task();
    Task &t = *task;
    t.seq = next_seq_++;
    t.in = std::move(img);
    t.plugins = plugins_now_();
    t.task_id = options_.device_id;
    t.task_id += '-';
    t.task_id += std::to_string(started_);
    t.task_id += '-';
    t.task_id += std::to_string(t.seq);
    t.source = intake_.kind_text();
    t.source += ':';
    t.source += t.in.id;
    const cv::Mat &m = t.in.image;
    t.image.struct_size = sizeof(tierd_image);
    t.image.format = t.in.format;
    t.image.width = m.cols;
    t.image.height = m.rows;
    t.image.stride_bytes = static_cast<int32_t>(m.step[0]);
    t.image.data = m.data;
    t.task.struct_size = sizeof(tierd_task);
    t.task.task_id = t.task_id.c_str();
    t.task.source = t.source.c_str();
    t.start_ns = uv_hrtime();
    t.task.created_ns = t.start_ns;
    t.task.image = &t.image;
    t.task.frame_index = -1;
    if (t.in.frame_index >= 0) {
        // A video frame: its stream is its source's.
        t.stream = intake_.description();
        t.task.stream = t.stream.c_str();
        t.task.frame_index = t.in.frame_index;
        t.task.captured_ns = t.start_ns;
        t.jpeg_quality = options_.frame_jpeg_quality;
        t.features = options_.frame_features;
        streams_.try_emplace(t.stream, t.stream)
            .first->second.started(t.in.frame_index, t.start_ns);
    }
    ++in_flight_;

    // The worker stages run as many calls at once as the workers and the plugins allow.
    const unsigned workers = static_cast<unsigned>(std::max(1, options_.workers));
    const unsigned infer = std::min(workers, concurrency(t.plugins.inference));
    infer_lane_.set_parallel(infer);
    head_lane_.set_parallel(infer);
    const bool local_first = options_.local_first && t.plugins.inference;
    prepare_lane_.set_parallel(
        std::min(local_first ? infer : workers, concurrency(t.plugins.preclassifier)));
    // Stage preparing (worker), only when there is something to prepare.
    t.stage = Task::Stage::preparing;
    if (local_first || t.plugins.preclassifier || !t.stream.empty())
        return prepare_lane_.push(std::move(task));
    prepared(std::move(task));
}

// With local_first, the local model's answer first (the pre-classifier and the scheduler
// see it as task.local_result); then the pre-classifier's features and routing hint.
void Pipeline::prepare_on_worker(Task &t, bool local_first, double slowdown) {
    if (!t.stream.empty())
        t.thumbnail = frame_thumbnail(t.image);
    if (local_first && t.plugins.inference) {
        infer_here(t, "", slowdown);
        t.local_first = true;
        if (t.local.ok)
            t.task.local_result = &t.local.result;
    }
    if (!t.plugins.preclassifier)
        return;
    const uint64_t start = uv_hrtime();
    t.pre.result.features = t.pre.features.data();
    t.pre.result.feature_capacity = kMaxFeatures;
    auto r = t.plugins.preclassifier->classify(t.task, t.pre.result);
    t.pre.ms = emulate(ms_since(start), slowdown);
    t.pre.ok = r.ok();
    if (!r.ok())
        spdlog::warn("task {}: preclassifier: {}", t.task_id, r.to_string());
}

void Pipeline::prepared(TaskPtr task) {
    task->stage = Task::Stage::deciding;
    decide(*task);
    if (!task->stream.empty() && !task->upstream && task->decision.key_frame_tier != 0)
        send_key_frame(*task);
    if (task->upstream) {
        const tierd_tier tier = task->decision.tier;
        if (!offload_.can_send(tier)) {
            task->offload.fallback = std::string("no-") + tier_name(tier) + "-online";
        } else if (task->split) {
            ++splits_;
            task->stage = Task::Stage::computing_head;
            return head_lane_.push(std::move(task));
        } else {
            return offload_.send(std::move(task));
        }
    }
    run_local(std::move(task));
}

// The scheduler's placement (loop thread): the task, its pre-classification, the links
// to the other tiers and this device's queue.
void Pipeline::decide(Task &task) {
    if (task.plugins.scheduler) {
        tierd_schedule_context context{};
        context.struct_size = sizeof context;
        context.local_tier = options_.local_tier;
        context.battery_fraction = -1.0;
        // Tasks ahead of this one (in_flight_ counts this one too).
        context.local_queue_depth = static_cast<uint32_t>(in_flight_ - 1 + intake_.buffered());
        // The upstream tiers as this agent sees them: reachable when an agent of that tier
        // is online and the link is not degraded; the estimates come from link probes and
        // real offload round trips (link_estimator.hpp).
        const uint64_t now = uv_hrtime();
        tierd_link_state edge = offload_.link_state(TIERD_TIER_EDGE, now);
        tierd_link_state cloud = offload_.link_state(TIERD_TIER_CLOUD, now);
        const Upstream &upstream = offload_.upstream();
        if (upstream.online) {
            context.edge = &edge;
            context.cloud = &cloud;
        }
        if (upstream.profiles) {
            auto [json, generation] = upstream.profiles();
            context.profiles_json = json != nullptr ? json->c_str() : nullptr;
            context.profiles_generation = generation;
        }
        // Tasks ahead of this one share the workers; the mean local compute time so far
        // (of tasks that computed here) says how long each holds one.
        context.local_queue_ms = static_cast<double>(context.local_queue_depth) *
                                 sink_.mean_local_compute_ms() / std::max(1, options_.workers);
        context.compute_power_w = options_.compute_power_w;
        context.power_source = options_.power_source.c_str();
        tierd_stream_state stream{};
        if (!task.stream.empty()) {
            stream = streams_.at(task.stream).state(task, now);
            context.stream = &stream;
        }
        const uint64_t decide_start = uv_hrtime();
        auto r = task.plugins.scheduler->decide(task.task, task.pre.ok ? &task.pre.result : nullptr,
                                                context, task.decision);
        decide_us_[decide_count_++ % decide_us_.size()] =
            static_cast<float>(uv_hrtime() - decide_start) / 1e3f;
        if (!r.ok()) {
            spdlog::warn("task {}: scheduler: {}; running it here", task.task_id, r.to_string());
            task.decision = tierd_decision{};
        }
    }
    if (task.decision.tier == 0)
        task.decision.tier = options_.local_tier;
    task.upstream = task.decision.tier != options_.local_tier;
    task.split = task.upstream && task.decision.split_layer >= 0;
}

// Split execution: the model's head here, up to the cut; the tensor then goes upstream.
void Pipeline::head_on_worker(Task &t, double slowdown, std::atomic<std::uint32_t> &capacity) {
    if (!t.plugins.inference) {
        t.offload.fallback = "head-failed: no inference plugin is loaded";
        return;
    }
    const std::string model = fixed_string(t.decision.model, sizeof t.decision.model);
    Task::Outcome meta;
    meta.prepare(kMaxScores);
    const uint64_t start = uv_hrtime();
    PluginCallResult r;
    // The tensor's size is the plugin's to say: one retry with what it asks for (the head
    // then runs twice), and later tasks start with the largest size seen.
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (t.head.tensor.empty())
            t.head.tensor.resize(capacity.load(std::memory_order_relaxed));
        t.head.view.data = t.head.tensor.data();
        t.head.view.capacity = static_cast<uint32_t>(t.head.tensor.size());
        r = t.plugins.inference->infer_head(t.task, model, t.decision.split_layer, t.head.view,
                                            meta.result);
        if (r.code != TIERD_ERANGE || t.head.view.count <= t.head.tensor.size())
            break;
        t.head.tensor.resize(t.head.view.count);
        uint32_t seen = capacity.load(std::memory_order_relaxed);
        while (
            seen < t.head.view.count &&
            !capacity.compare_exchange_weak(seen, t.head.view.count, std::memory_order_relaxed)) {
        }
    }
    t.head.ms = emulate(ms_since(start), slowdown);
    if (!r.ok()) {
        t.offload.fallback = "head-failed: " + r.to_string();
        return;
    }
    t.head.tensor.resize(t.head.view.count);
    t.head.energy_j = meta.result.energy_j; // as infer_here: the real computation's
}

// Runs the inference plugin here on `t` (worker thread). The plugin's own infer() never
// sees a local_result: it is the one producing it.
void Pipeline::infer_here(Task &t, const std::string &model, double slowdown) {
    if (!t.plugins.inference) {
        t.error = "no inference plugin is loaded";
        return;
    }
    const tierd_inference_result *seen = t.task.local_result;
    t.task.local_result = nullptr;
    const uint64_t start = uv_hrtime();
    t.local.prepare(kMaxScores);
    if (t.features != FeatureCompression::none)
        t.local.want_features(kLocalFeatureFloats);
    auto r = t.plugins.inference->infer(t.task, model, t.local.result);
    if (r.code == TIERD_ERANGE && t.local.result.features != nullptr &&
        t.local.feature_view.count > t.local.feature_view.capacity &&
        t.local.feature_view.count <= kFeatureMaxValues) {
        // A feature map larger than the buffer: once more with the room it asked for.
        const std::uint32_t needed = t.local.feature_view.count;
        t.local.prepare(kMaxScores);
        t.local.want_features(needed);
        r = t.plugins.inference->infer(t.task, model, t.local.result);
    }
    t.infer_ms = emulate(ms_since(start), slowdown);
    if (slowdown > 1.0)
        t.local.result.compute_ms *= slowdown;
    t.task.local_result = seen;
    t.local.ok = r.ok();
    if (r.ok())
        t.error.clear();
    else
        t.error = "inference: " + r.to_string();
}

// The model each task runs here: a task placed upstream that runs here after all
// (fallback) takes this tier's default model — the upstream model is usually not loaded
// here — except a split task, whose model is loaded here (its head ran here).
static std::string local_model(const Task &t) {
    return t.upstream && !t.split ? std::string()
                                  : fixed_string(t.decision.model, sizeof t.decision.model);
}

// Stage inferring (worker): the waiting tasks of one job, those for the same model in one
// infer_batch() call when the plugin offers it and there are several.
void Pipeline::infer_on_worker(std::vector<TaskPtr> &tasks, double slowdown) {
    std::map<std::pair<PluginInstance *, std::string>, std::vector<Task *>> groups;
    for (auto &t : tasks) {
        if (!t->plugins.inference || t->plugins.inference->offers_batch() == false) {
            infer_here(*t, local_model(*t), slowdown);
            continue;
        }
        groups[{t->plugins.inference.get(), local_model(*t)}].push_back(t.get());
    }
    for (auto &[key, group] : groups) {
        if (group.size() == 1) {
            infer_here(*group[0], key.second, slowdown);
            continue;
        }
        PluginInstance &inference = *key.first;
        std::vector<const tierd_task *> task_ptrs;
        std::vector<tierd_inference_result> outs(group.size());
        for (std::size_t i = 0; i < group.size(); ++i) {
            Task &t = *group[i];
            t.task.local_result = nullptr;
            t.local.prepare(kMaxScores);
            if (t.features != FeatureCompression::none)
                t.local.want_features(kLocalFeatureFloats);
            outs[i] = t.local.result;
            task_ptrs.push_back(&t.task);
        }
        const uint64_t start = uv_hrtime();
        auto results = inference.infer_batch(task_ptrs, key.second, outs);
        // Each task's share of the batch, as the plugin reports compute_ms.
        const double share_ms =
            emulate(ms_since(start), slowdown) / static_cast<double>(group.size());
        for (std::size_t i = 0; i < group.size(); ++i) {
            Task &t = *group[i];
            if (results[i].code == TIERD_ERANGE && t.features != FeatureCompression::none) {
                infer_here(t, key.second, slowdown); // its feature map needs a larger buffer
                continue;
            }
            t.local.result = outs[i];
            t.infer_ms = share_ms;
            if (slowdown > 1.0)
                t.local.result.compute_ms *= slowdown;
            t.local.ok = results[i].ok();
            if (results[i].ok())
                t.error.clear();
            else
                t.error = "inference: " + results[i].to_string();
        }
    }
}

void Pipeline::run_local(TaskPtr task) {
    // With local_first that answer exists already and is kept when the scheduler kept the
    // task here on the model that already answered (or on the default).
    const std::string wanted = local_model(*task);
    if (task->local_first && task->local.ok &&
        (wanted.empty() ||
         wanted == fixed_string(task->local.result.model, sizeof task->local.result.model)))
        return fuse(std::move(task));
    task->stage = Task::Stage::inferring;
    infer_lane_.push(std::move(task));
}

// A copy of `t` to send to `tier` on its own (a key frame, a label request): the same image
// and its lease (no pixel copy), task id `t`'s + `suffix`, offloaded to the tier's default
// model until the caller names one.
TaskPtr Pipeline::upstream_copy(const Task &t, const char *suffix, tierd_tier tier) {
    TaskPtr copy = new_task();
    Task &c = *copy;
    c.seq = t.seq;
    c.in = t.in;
    c.task_id = t.task_id + suffix;
    c.source = t.source;
    c.image = t.image;
    c.task = t.task;
    c.task.task_id = c.task_id.c_str();
    c.task.source = c.source.c_str();
    c.task.image = &c.image;
    c.task.local_result = nullptr;
    c.decision.struct_size = sizeof c.decision;
    c.decision.tier = tier;
    c.decision.split_layer = -1;
    c.decision.model[0] = '\0';
    c.upstream = true;
    c.stage = Task::Stage::offloaded;
    return copy;
}

// A key frame: a copy of the task's frame goes to the tier the scheduler named, with its
// own task id; the local work goes on without waiting for it (key_frame_answered).
void Pipeline::send_key_frame(Task &t) {
    VideoStream &stream = streams_.at(t.stream);
    const tierd_tier tier = t.decision.key_frame_tier;
    if ((tier != TIERD_TIER_EDGE && tier != TIERD_TIER_CLOUD) || stopping_ ||
        !offload_.can_send(tier)) {
        stream.key_frame_lost();
        return;
    }
    TaskPtr copy = upstream_copy(t, "-key", tier);
    Task &c = *copy;
    c.stream = t.stream;
    c.task.stream = c.stream.c_str();
    c.start_ns = t.start_ns;
    c.jpeg_quality = t.jpeg_quality;
    c.features = t.features;
    c.key_frame_copy = true;
    // A detector that learns (ABI 1.7) gets the teacher's boxes for this frame once they
    // are back (key_frame_answered).
    if (t.plugins.inference && t.plugins.inference->offers_learn_detections())
        c.plugins.inference = t.plugins.inference;
    std::memcpy(c.decision.model, t.decision.key_frame_model, sizeof c.decision.model);
    c.decision.model[sizeof c.decision.model - 1] = '\0';
    stream.key_frame_sent(t);
    offload_.send(std::move(copy));
}

void Pipeline::key_frame_answered(TaskPtr copy) {
    auto it = streams_.find(copy->stream);
    if (it != streams_.end()) {
        it->second.key_frame_bytes(copy->offload.bytes_sent, copy->offload.bytes_received);
        if (copy->remote.ok)
            it->second.upstream_arrived(copy->remote, copy->task.frame_index, copy->decision.tier,
                                        copy->start_ns, uv_hrtime(), true);
        else
            it->second.key_frame_lost();
    }
    learn_or_recycle(std::move(copy));
    maybe_stopped();
}

// A stream frame's turn comes when every earlier frame of its stream has been handed to
// fusion: fuse_frame() then sees the frames in order, one at a time.
void Pipeline::fuse_stream_frame(TaskPtr task) {
    VideoStream &stream = streams_.at(task->stream);
    const uint64_t now = uv_hrtime();
    // A frame placed upstream brings its own answer: the newest there is.
    if (task->remote.ok)
        stream.upstream_arrived(task->remote, task->task.frame_index, task->decision.tier,
                                task->start_ns, now, false);
    if (task->local.ok)
        stream.saw_local(task->local.result);
    stream.ready(std::move(task));
    pump_stream(stream);
}

void Pipeline::pump_stream(VideoStream &stream) {
    while (stream.has_next()) {
        TaskPtr task = stream.take_next();
        if (!task->plugins.fusion || !task->plugins.fusion->offers_fuse_frame()) {
            // A fusion plugin without fuse_frame (or none): as any task, in order.
            fuse_here(*task);
            finish(std::move(task));
            continue;
        }
        // The snapshot is taken now, on the loop: an answer that arrives later is for the
        // frames after this one.
        task->have_upstream_view = stream.upstream_for(uv_hrtime(), task->task.frame_index,
                                                       task->upstream_seen, task->upstream_view);
        // An answer from a tier that is no longer reachable (offline, or its link degraded
        // by timeouts in a row) is not handed on: the end goes on with its own detector,
        // and the result says so (video.light_only, video.unreachable).
        if (task->have_upstream_view && !offload_.answering(task->upstream_view.tier)) {
            task->have_upstream_view = false;
            task->upstream_unreachable = true;
        }
        task->fused.prepare(kMaxScores);
        fuse_lane_.push(std::move(task));
    }
}

// Worker: the fusion plugin's fuse_frame() for one stream frame.
void Pipeline::fuse_frame_on_worker(Task &t) {
    // A frame placed upstream and answered has no local result: its upstream is its own.
    const tierd_inference_result *local =
        t.local.ok && !(t.upstream && t.remote.ok) ? &t.local.result : nullptr;
    const uint64_t start = uv_hrtime();
    auto r = t.plugins.fusion->fuse_frame(
        t.task, local, t.have_upstream_view ? &t.upstream_view : nullptr, t.fused.result);
    t.fuse_ms = static_cast<double>(uv_hrtime() - start) / 1e6;
    t.fused.ok = r.ok();
    if (!r.ok())
        spdlog::warn("task {}: fusion: {}; using the local result", t.task_id, r.to_string());
}

// Loop: a stream frame came back from fuse_frame(); the stream keeps the plugin's warp
// error for the scheduler's next decisions (ABI 1.6), then the frame finishes.
void Pipeline::stream_frame_fused(TaskPtr task) {
    const tierd_inference_result &fused = task->fused.result;
    if (task->fused.ok && task->have_upstream_view && fused.warp_error >= 0.0 &&
        std::isfinite(fused.warp_error)) {
        auto it = streams_.find(task->stream);
        if (it != streams_.end())
            it->second.fused(task->task.frame_index, task->upstream_view.frame_index,
                             std::min(fused.warp_error, 1.0));
    }
    finish(std::move(task));
}

// Stage fusing (loop): the fusion plugin combines the local and the remote answer.
void Pipeline::fuse(TaskPtr task) {
    task->stage = Task::Stage::fusing;
    if (!task->stream.empty())
        return fuse_stream_frame(std::move(task));
    fuse_here(*task);
    finish(std::move(task));
}

// The fusion plugin's fuse() on the loop, when there is a plugin and an answer to fuse.
void Pipeline::fuse_here(Task &task) {
    if (!task.answered() || !task.plugins.fusion)
        return;
    task.fused.prepare(kMaxScores);
    const uint64_t start = uv_hrtime();
    auto r = task.plugins.fusion->fuse(task.task, task.local.ok ? &task.local.result : nullptr,
                                       task.remote.ok ? &task.remote.result : nullptr,
                                       task.fused.result);
    task.fuse_ms = static_cast<double>(uv_hrtime() - start) / 1e6;
    task.fused.ok = r.ok();
    if (!r.ok())
        spdlog::warn("task {}: fusion: {}; using the local result", task.task_id, r.to_string());
}

void Pipeline::finish(TaskPtr task) {
    task->stage = Task::Stage::finished;
    --in_flight_;
    sink_.write(*task);
    const Upstream &upstream = offload_.upstream();
    if (upstream.observed_compute && !task->split && task->error.empty()) {
        if (task->remote.ok)
            upstream.observed_compute(
                task->offload.device,
                fixed_string(task->remote.result.model, sizeof task->remote.result.model),
                task->remote.result.compute_ms);
        else if (task->local.ok)
            upstream.observed_compute(
                "", fixed_string(task->local.result.model, sizeof task->local.result.model),
                task->infer_ms);
    }
    maybe_request_label(*task);
    learn_or_recycle(std::move(task));
    dispatch();
    maybe_stopped();
}

void Pipeline::maybe_request_label(const Task &t) {
    if (options_.label_budget_per_hour <= 0.0 || stopping_)
        return;
    // Tokens accrue at the budget's rate; at most a minute's worth wait (so a quiet hour
    // does not end in a burst), and at least one, so that a small budget can spend.
    const std::uint64_t now = uv_hrtime();
    const double rate_per_s = options_.label_budget_per_hour / 3600.0;
    if (label_tokens_at_ != 0)
        label_tokens_ += static_cast<double>(now - label_tokens_at_) / 1e9 * rate_per_s;
    label_tokens_at_ = now;
    label_tokens_ = std::min(label_tokens_, std::max(1.0, 60.0 * rate_per_s));
    // A classification answered here whose plugin learns, and an upstream to ask.
    if (label_tokens_ < 1.0 || t.upstream || t.key_frame_copy || t.label_copy || !t.local.ok ||
        t.local.result.top_class < 0 || !t.error.empty() || t.task.image == nullptr ||
        !t.plugins.inference || !t.plugins.inference->offers_learn())
        return;
    const tierd_tier tier = offload_.answering(TIERD_TIER_EDGE)    ? TIERD_TIER_EDGE
                            : offload_.answering(TIERD_TIER_CLOUD) ? TIERD_TIER_CLOUD
                                                                   : TIERD_TIER_END;
    if (tier == TIERD_TIER_END)
        return;
    label_tokens_ -= 1.0;
    ++label_requests_;
    TaskPtr copy = upstream_copy(t, "-label", tier); // model "": the tier's default
    Task &c = *copy;
    c.task.stream = nullptr;
    c.task.frame_index = -1;
    c.plugins = t.plugins; // the learner is the plugin that answered here
    c.local = t.local;     // its own answer goes with the label
    c.local.result.scores = c.local.scores.data();
    c.local.result.detections = c.local.detections.data();
    c.start_ns = now;
    c.label_copy = true;
    offload_.send(std::move(copy));
}

void Pipeline::label_answered(TaskPtr copy) {
    label_bytes_up_ += copy->offload.bytes_sent;
    label_bytes_down_ += copy->offload.bytes_received;
    if (!copy->remote.ok)
        ++label_requests_failed_;
    learn_or_recycle(std::move(copy));
    maybe_stopped();
}

void Pipeline::learn_or_recycle(TaskPtr task) {
    keep_teacher_label(*task);
    if (!stopping_ && learnable(*task)) {
        if (learn_lane_.pending() + learn_lane_.running() < kMaxLearning) {
            ++teacher_labels_;
            return learn_lane_.push(std::move(task)); // recycled after learn()
        }
        ++teacher_labels_skipped_;
    }
    recycle(std::move(task));
}

void Pipeline::keep_teacher_label(const Task &task) {
    // An upstream's whole-model class for a gray image this device has (the classifiers'
    // input; a split task's answer is this device's own model's tail).
    if (!teacher_samples_ || !task.remote.ok || task.split || task.key_frame_copy ||
        !task.error.empty() || task.remote.result.top_class < 0 || task.task.image == nullptr ||
        task.task.image->format != TIERD_PIXEL_GRAY8)
        return;
    const tierd_image &image = *task.task.image;
    const cv::Mat view(image.height, image.width, CV_8UC1, const_cast<uint8_t *>(image.data),
                       static_cast<std::size_t>(image.stride_bytes));
    teacher_samples_->keep("", view, task.remote.result.top_class, task.remote.result.top_score,
                           task.task_id);
}

bool Pipeline::learnable(const Task &task) {
    // A whole-model answer from upstream about an image this device has: a split task's
    // answer is its own model's tail, not a teacher's. A key frame's boxes go to a
    // detector that takes them (ABI 1.7; send_key_frame kept the plugin only then).
    if (!task.remote.ok || task.split || !task.error.empty() || task.task.image == nullptr ||
        !task.plugins.inference)
        return false;
    if (task.key_frame_copy)
        return task.plugins.inference->offers_learn_detections();
    return task.remote.result.top_class >= 0 && task.plugins.inference->offers_learn();
}

void Pipeline::learn_on_worker(Task &task) {
    const std::string device = task.offload.device;
    tierd_teacher_label label{};
    label.struct_size = sizeof label;
    label.label = task.remote.result.top_class;
    label.confidence = task.remote.result.top_score;
    if (task.key_frame_copy) { // a key frame's boxes (ABI 1.7): label -1, their mean score
        const tierd_inference_result &answer = task.remote.result;
        double sum = 0.0;
        for (uint32_t i = 0; i < answer.detection_count; ++i)
            sum += answer.detections[i].score;
        label.label = -1;
        label.confidence =
            answer.detection_count > 0 ? static_cast<float>(sum / answer.detection_count) : 0.0f;
    }
    label.device = device.c_str();
    label.model = task.remote.result.model;
    label.answer = &task.remote.result;
    label.local = task.local.ok ? &task.local.result : nullptr;
    const PluginCallResult r = task.plugins.inference->learn(task.task, label);
    if (!r.ok()) {
        ++teacher_label_errors_;
        spdlog::warn("task {}: learn(): {}", task.task_id, r.to_string());
    }
}

void Pipeline::recycle(TaskPtr task) {
    // The frame goes back to its source first, so that the source's own reference is
    // not the last one below when the source was unloaded meanwhile.
    task->in = SourceImage{};
    // A plugin unloaded while this task ran is destroyed when its last user lets go:
    // hand the reference to a worker rather than block the loop in its destroy().
    for (auto *p : {&task->plugins.source, &task->plugins.scheduler, &task->plugins.preclassifier,
                    &task->plugins.inference, &task->plugins.fusion})
        if (*p && p->use_count() == 1)
            release_(std::move(*p));
    task->reset();
    if (spare_tasks_.size() < static_cast<std::size_t>(options_.max_in_flight))
        spare_tasks_.push_back(std::move(task));
}

void Pipeline::stop(std::function<void()> done) {
    if (stopping_)
        return;
    stopping_ = true;
    stop_done_ = std::move(done);
    intake_.stop();
    if (started_ != 0) {
        if (rate_timer_running_)
            uv_timer_stop(&rate_timer_);
        rate_timer_running_ = false;
        rate_timer_closing_ = true;
        uv_close(reinterpret_cast<uv_handle_t *>(&rate_timer_), [](uv_handle_t *h) {
            auto *self = static_cast<Pipeline *>(h->data);
            self->rate_timer_closing_ = false;
            self->maybe_stopped();
        });
    }
    // Tasks waiting for an upstream reply come back and run here.
    offload_.stop([this] {
        offload_closed_ = true;
        maybe_stopped();
    });
    maybe_stopped();
}

void Pipeline::maybe_stopped() {
    if (!stopping_ || !stop_done_ || in_flight_ > 0 || rate_timer_closing_ || !offload_closed_ ||
        !intake_.idle() || !prepare_lane_.idle() || !infer_lane_.idle() || !head_lane_.idle() ||
        !fuse_lane_.idle() || !learn_lane_.idle())
        return;
    // The results file last: its final chunk may still be on a worker.
    if (!sink_.idle())
        return sink_.when_idle([this] { maybe_stopped(); });
    auto done = std::exchange(stop_done_, nullptr);
    done();
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

nlohmann::json Pipeline::stats() const {
    nlohmann::json j = {{"source", intake_.description()},
                        {"state", intake_.state()},
                        {"blocked", blocked_},
                        {"in_flight", in_flight_},
                        {"queued", intake_.buffered()},
                        {"splits", splits_},
                        {"decide_us", decide_percentiles()},
                        {"split_fallbacks", split_fallbacks_}};
    if (teacher_labels_ + teacher_labels_skipped_ > 0) {
        // Teacher labels handed to the inference plugin's learn() (ABI 1.5), those not
        // handed over because kMaxLearning waited already, and learn() calls that failed.
        j["teacher_labels"] = teacher_labels_;
        j["teacher_labels_skipped"] = teacher_labels_skipped_;
        j["teacher_label_errors"] = teacher_label_errors_.load();
    }
    if (options_.label_budget_per_hour > 0.0) {
        // Copies sent up for their label alone ([pipeline] label_budget_per_hour), those
        // that came back without one, and their bytes (not in any task's bytes_sent).
        j["label_requests"] = label_requests_;
        j["label_requests_failed"] = label_requests_failed_;
        j["label_bytes_up"] = label_bytes_up_;
        j["label_bytes_down"] = label_bytes_down_;
    }
    // Seconds from start() until the source finished (or until now while it runs).
    if (started_ != 0)
        j["run_s"] =
            static_cast<double>((finished_ != 0 ? finished_ : uv_hrtime()) - started_) / 1e9;
    if (!streams_.empty()) {
        nlohmann::json streams = nlohmann::json::object();
        const uint64_t now = uv_hrtime();
        for (const auto &[name, stream] : streams_)
            streams[name] = stream.stats(now);
        j["streams"] = std::move(streams);
    }
    sink_.add_stats(j);
    intake_.add_stats(j);
    offload_.add_stats(j);
    if (!intake_.error().empty())
        j["error"] = intake_.error();
    return j;
}

} // namespace tierd
