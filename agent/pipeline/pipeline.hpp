// The end agent's task pipeline: images from the source plugin become tasks that pass
// through the plugin stages and end as result documents.
//
//   FrameIntake ──> preparing (worker: local model first, pre-classifier)
//               ──> deciding (loop: scheduler)
//                     ├─ here ──────────────> inferring (worker) ─┐
//                     ├─ upstream ──> OffloadClient (reply | fallback: here)
//                     └─ split ──> computing_head (worker) ──> OffloadClient
//               ──> fusing (loop: fusion plugin) ──> ResultSink (results topic, JSONL)
//
// The three worker stages are WorkerLanes: at most `workers` jobs each at once (and no
// more than the plugin's max_concurrent_calls), each job taking what waits, so a busy
// pipeline pays one worker round trip per batch, not per task; the inference stage hands
// several waiting tasks for one model to the plugin's infer_batch(). At most
// `max_in_flight` tasks exist at once.
//
// Threads: everything here runs on the loop thread except the plugin calls in the worker
// stages, which touch only their own tasks.
#pragma once

#include "agent/config/config.hpp"
#include "agent/loop/worker_lane.hpp"
#include "agent/pipeline/answered_samples.hpp"
#include "agent/pipeline/feature_codec.hpp"
#include "agent/pipeline/frame_intake.hpp"
#include "agent/pipeline/offload_client.hpp"
#include "agent/pipeline/result_sink.hpp"
#include "agent/pipeline/task.hpp"
#include "agent/pipeline/video_stream.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tierd {

struct PipelineOptions {
    SourceConfig source;
    ResultsConfig results;
    int max_in_flight = 64;
    int offload_timeout_ms = 1000; // how long an upstream reply may take
    std::string device_id;
    tierd_tier local_tier = TIERD_TIER_END;
    bool local_first = false;           // [pipeline] local_first (config.hpp PipelineConfig)
    double emulate_slowdown = 1.0;      // [pipeline] emulate_slowdown
    double label_budget_per_hour = 0.0; // [pipeline] label_budget_per_hour
    int probe_interval_ms = 1000;       // [offload] probe_interval_ms: link probes; 0 = none
    int frame_jpeg_quality = 75;        // [offload] frame_jpeg_quality: video frames sent up
    // [offload] frame_features: feature maps asked of the upstream (with each video frame
    // sent up) and of the local detector (each video frame), for feature fusion
    FeatureCompression frame_features = FeatureCompression::none;
    // [offload] frame_resend and its settings: region re-send of video frames sent up
    bool frame_resend = false;
    double frame_low_scale = 0.65;
    int frame_low_quality = 50;
    double resend_sure = 0.5, resend_unsure = 0.25;
    bool resend_mosaic = true;
    double resend_margin = 0.25;
    int workers = 1;                     // worker threads: local tasks that run at once
    std::size_t max_batch = 16;          // tasks per inference call when several wait
    double compute_power_w = -1.0;       // this device's compute power above idle; < 0 unknown
    std::string power_source;            // where compute_power_w comes from
    std::uint64_t max_pixels = 8u << 20; // limits.max_pixels (input messages)
    std::size_t max_waiting_bytes = 64u << 20;        // bytes of input messages waiting
    OverflowPolicy overflow = OverflowPolicy::reject; // workers.overflow (input messages)
};

class Pipeline {
  public:
    using PluginsNow = std::function<PipelinePlugins()>;
    using Publish = ResultSink::Publish;
    // Hands a plugin reference to a worker to drop (stop()/destroy() may block).
    using Release = std::function<void(std::shared_ptr<PluginInstance>)>;

    // `source` is the running source plugin, or null with `source_failure` saying why
    // (the pipeline then reports the source as failed and serves nothing).
    Pipeline(uv_loop_t *loop, PipelineOptions options, PluginsNow plugins, Publish publish,
             Release release, std::shared_ptr<PluginInstance> source,
             std::string source_failure = {});
    ~Pipeline();
    Pipeline(const Pipeline &) = delete;
    Pipeline &operator=(const Pipeline &) = delete;

    // How the pipeline reaches other tiers (set before start(); unset = never offload).
    void set_upstream(Upstream upstream) { offload_.set_upstream(std::move(upstream)); }
    // Backpressure: while `admit` returns false no new task starts (the source waits;
    // images from the input topic queue up to the buffer, then are dropped). resume()
    // tries again once it may return true.
    void set_admission(std::function<bool()> admit) { admit_ = std::move(admit); }
    // Where each image answered upstream with a class is kept with that answer, its
    // teacher label ([models] teacher_images; the model update's teacher check), or null.
    // Kept under the key "" (one set per device). Set before start().
    void set_teacher_samples(std::shared_ptr<AnsweredSamples> keeper) {
        teacher_samples_ = std::move(keeper);
    }
    void resume() { dispatch(); }
    // Starts the link probes ([offload] probe_interval_ms), ahead of start() so that the
    // first tasks already see link estimates. Idempotent; start() calls it too.
    void start_probing() { offload_.start_probing(); }
    // Probes now, e.g. when a tier has just come online.
    void probe_now() { offload_.probe_now(); }
    // A reply message for an offloaded task (loop thread). Late or unknown replies are
    // counted and dropped.
    void on_offload_reply(const std::string &payload) { offload_.on_reply(payload); }

    // A message source's input message (the input topic): decoded on a worker; dropped
    // (and counted) when the pipeline is full.
    void push(std::string payload) { intake_.push(std::move(payload)); }
    bool takes_messages() const { return intake_.is_message_source(); }

    // How many input messages may wait (buffered, decoding or running) before push()
    // applies workers.overflow.
    static std::size_t max_waiting_inputs(int max_in_flight) {
        return 2 * static_cast<std::size_t>(max_in_flight);
    }
    // Counts `n` input messages as dropped that never reached push(): the agent holds the
    // ones that arrive before the pipeline exists, up to the same bound, and drops the rest.
    void count_dropped(std::uint64_t n) { intake_.count_dropped(n); }

    // Starts the source (a pull source reads ahead on a worker). A source that failed is
    // logged and reported in stats(); the agent serves on.
    void start();
    // No new tasks; `done` runs on the loop once the in-flight ones have finished.
    void stop(std::function<void()> done);

    // {"source", "state", "blocked", "done", "failed", "in_flight", "queued", "by_tier",
    //  "fallbacks", "offload_pending", "late_replies", "pushed", "dropped", "undecodable",
    //  "too_large", "splits", "split_fallbacks", "decide_us", "links", "labelled",
    //  "correct", "top1"?, "mean_ms", "error"?}
    nlohmann::json stats() const;

  private:
    void dispatch();
    void start_task(SourceImage image);
    void prepared(TaskPtr task);
    void decide(Task &task);
    void run_local(TaskPtr task);
    void fuse(TaskPtr task);
    void fuse_here(Task &task); // fuse() of the fusion plugin (loop thread)
    // Video streams: a frame's result waits for its turn, then fuse_frame() on a worker.
    void fuse_stream_frame(TaskPtr task);
    void pump_stream(VideoStream &stream);
    static void fuse_frame_on_worker(Task &task);
    void stream_frame_fused(TaskPtr task);
    // A key frame's copy, sent beside the local work; its answer feeds the stream.
    void send_key_frame(Task &task);
    void key_frame_answered(TaskPtr copy);
    TaskPtr new_task();
    void finish(TaskPtr task);
    void recycle(TaskPtr task);
    // Worker stages (worker thread; each touches only its own tasks).
    static void prepare_on_worker(Task &task, bool local_first, double slowdown);
    static void infer_on_worker(std::vector<TaskPtr> &tasks, double slowdown);
    static void head_on_worker(Task &task, double slowdown, std::atomic<std::uint32_t> &capacity);
    static void infer_here(Task &task, const std::string &model, double slowdown);
    void maybe_stopped();
    static void on_rate_tick(uv_timer_t *timer);
    nlohmann::json decide_percentiles() const;

    uv_loop_t *loop_;
    PipelineOptions options_;
    PluginsNow plugins_now_;
    Release release_;

    FrameIntake intake_;
    OffloadClient offload_;
    ResultSink sink_;
    WorkerLane<TaskPtr> prepare_lane_, infer_lane_, head_lane_;
    // One fuse_frame() at a time, in the order pushed (frame order per stream).
    WorkerLane<TaskPtr> fuse_lane_;
    // Teacher labels for the inference plugin's learn() (ABI 1.5), after the result went
    // out: a finished task waits here with its image, at most kMaxLearning at a time (a
    // task beyond that is not learned from: learning is best effort, and the tasks hold
    // their source's frames).
    static constexpr std::size_t kMaxLearning = 8;
    WorkerLane<TaskPtr> learn_lane_;
    void learn_on_worker(Task &task);
    // Whether `task`'s answer is a teacher's label its inference plugin takes.
    static bool learnable(const Task &task);
    // A finished task (or answered label copy): to the learn lane when it is learnable
    // and there is room (else counted skipped), otherwise recycled now.
    void learn_or_recycle(TaskPtr task);
    // Keeps an upstream's answer about this device's image for the teacher check.
    void keep_teacher_label(const Task &task);
    std::uint64_t teacher_labels_ = 0, teacher_labels_skipped_ = 0;
    // [pipeline] label_budget_per_hour: a token bucket (tokens accrue with time, at most
    // one burst of a minute's budget) spent on copies of locally answered tasks sent up
    // for their label alone.
    double label_tokens_ = 0.0;
    std::uint64_t label_tokens_at_ = 0;
    std::uint64_t label_requests_ = 0, label_requests_failed_ = 0;
    std::uint64_t label_bytes_up_ = 0, label_bytes_down_ = 0;
    TaskPtr upstream_copy(const Task &t, const char *suffix, tierd_tier tier);
    // Sends a copy of `t` (answered here) up for its label when the budget allows.
    void maybe_request_label(const Task &t);
    void label_answered(TaskPtr copy);
    std::atomic<std::uint64_t> teacher_label_errors_{0};
    std::map<std::string, VideoStream> streams_;
    std::vector<TaskPtr> spare_tasks_; // finished tasks kept for reuse (their buffers)

    bool stopping_ = false;
    std::function<void()> stop_done_;
    bool offload_closed_ = false;
    int in_flight_ = 0; // tasks started and not finished
    std::uint64_t started_ = 0;
    std::uint64_t finished_ = 0; // when the source finished and its last task was done
    std::uint64_t next_seq_ = 0;

    // Rate limiting: a timer grants tokens at rate_hz.
    uv_timer_t rate_timer_{};
    bool rate_timer_running_ = false;
    bool rate_timer_closing_ = false;
    double tokens_ = 0.0;

    std::function<bool()> admit_;
    std::shared_ptr<AnsweredSamples> teacher_samples_;
    bool blocked_ = false; // the last dispatch() stopped at admit_ (status: "blocked")
    std::uint64_t splits_ = 0, split_fallbacks_ = 0;
    // The largest head tensor seen (floats): split tasks start with a buffer this big, so
    // the head is not run twice (ERANGE) once one task has learned the size. Workers read
    // and raise it.
    std::atomic<std::uint32_t> head_capacity_{4096};
    // The scheduler's decide() call as the host times it (plugin call included), over the
    // last 1024 decisions: {"p50", "p99", "max", "samples"} in microseconds.
    std::array<float, 1024> decide_us_{};
    std::uint64_t decide_count_ = 0;
};

} // namespace tierd
