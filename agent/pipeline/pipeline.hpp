// The end agent's task pipeline: images from a source become tasks that pass through
// the plugins — preclassifier (worker), scheduler (loop), inference (worker), fusion
// (loop) — and end as result documents (results topic, JSONL file).
//
// Threads: everything here runs on the loop thread except the three worker stages (read
// a batch from the source, classify, infer), which run on libuv's pool and touch only
// their own task. At most `workers.queue_limit` tasks are in flight.
//
// A task the scheduler places on another tier is offloaded (offload_codec.hpp) when an
// agent of that tier is online; it runs here instead — and its result says why in
// "fallback" — when none is, when the broker is unreachable, when the tier answers with
// an error, or when no reply comes within the offload timeout.
#pragma once

#include "agent/config/config.hpp"
#include "agent/pipeline/image_source.hpp"
#include "agent/pipeline/link_estimator.hpp"
#include "agent/plugin_host/plugin_instance.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace tierd {

// The plugins a task uses, taken when it starts; any may be null (that stage is skipped,
// or, for inference, the task fails with a reason). Holding them keeps an unloaded
// plugin alive until the task is done with it.
struct PipelinePlugins {
    std::shared_ptr<PluginInstance> scheduler, preclassifier, inference, fusion;
};

struct PipelineOptions {
    SourceConfig source;
    ResultsConfig results;
    int max_in_flight = 64;
    int offload_timeout_ms = 1000; // how long an upstream reply may take
    std::string device_id;
    tierd_tier local_tier = TIERD_TIER_END;
    bool local_first = false;      // [pipeline] local_first (config.hpp PipelineConfig)
    double emulate_slowdown = 1.0; // [pipeline] emulate_slowdown
    int probe_interval_ms = 1000;  // [offload] probe_interval_ms: link probes; 0 = none
    int workers = 1;               // worker threads: local tasks that run at once
    double compute_power_w = -1.0; // this device's compute power above idle; < 0 unknown
    std::string power_source;      // where compute_power_w comes from
};

class Pipeline {
  public:
    using PluginsNow = std::function<PipelinePlugins()>;
    // Publishes a result document on the results topic (loop thread).
    using Publish = std::function<void(const std::string &payload)>;
    // Hands a plugin reference to a worker to drop (stop()/destroy() may block).
    using Release = std::function<void(std::shared_ptr<PluginInstance>)>;

    Pipeline(uv_loop_t *loop, PipelineOptions options, PluginsNow plugins, Publish publish,
             Release release);
    ~Pipeline();
    Pipeline(const Pipeline &) = delete;
    Pipeline &operator=(const Pipeline &) = delete;

    // How the pipeline reaches other tiers (set before start(); unset = never offload).
    struct Upstream {
        // Whether an agent of `tier` is online now (also the scheduler's link state).
        std::function<bool(tierd_tier)> online;
        // Publishes an encoded request for `tier`; false when it cannot go out now.
        std::function<bool(tierd_tier, const std::string &payload, const std::string &correlation)>
            send;
        // The tiers' measured model profiles for the scheduler (ABI 1.2
        // tierd_schedule_context.profiles_json) and their generation; null = none.
        std::function<std::pair<const std::string *, uint64_t>()> profiles;
        // A whole-model compute time seen on `device` ("" = here), so that the profiles
        // follow what the devices really take (ProfileBook::observe); may be null.
        std::function<void(const std::string &device, const std::string &model, double ms)>
            observed_compute;
    };
    void set_upstream(Upstream upstream) { upstream_ = std::move(upstream); }
    // Backpressure: while `admit` returns false no new task starts (the source waits;
    // images from the input topic queue up to the buffer, then are dropped). resume()
    // tries again once it may return true.
    void set_admission(std::function<bool()> admit) { admit_ = std::move(admit); }
    void resume() { dispatch(); }
    // Starts the link probes ([offload] probe_interval_ms), ahead of start() so that the
    // first tasks already see link estimates. Idempotent; start() calls it too.
    void start_probing();
    // Probes now, e.g. when a tier has just come online.
    void probe_now();
    // A reply message for an offloaded task (loop thread). Late or unknown replies are
    // counted and dropped.
    void on_offload_reply(const std::string &payload);

    // kind = "topic": one image message (an encoded image, or the offload request
    // format). Decoded on a worker; dropped (and counted) when the pipeline is full.
    void push(std::string payload);

    // How many input messages may wait (buffered or running) before push() drops more.
    static std::size_t max_waiting_inputs(int max_in_flight) {
        return 2 * static_cast<std::size_t>(max_in_flight);
    }

    // Counts `n` input messages as dropped that never reached push(): the agent holds the
    // ones that arrive before the pipeline exists, up to the same bound, and drops the rest.
    void count_dropped(uint64_t n) { dropped_ += n; }

    // Opens the source on a worker and starts pulling. A source that cannot be opened is
    // logged and reported in stats(); the agent serves on.
    void start();
    // No new tasks; `done` runs on the loop once the in-flight ones have finished.
    void stop(std::function<void()> done);

    // {"source": ..., "state": ..., "done", "failed", "in_flight", "queued", "by_tier",
    //  "labelled", "correct", "top1", "mean_ms", "fallbacks", "error"?}
    nlohmann::json stats() const;

  private:
    struct Task;
    struct Work;

    void request_batch();
    void dispatch();
    void start_task(SourceImage image);
    void after_classify(std::unique_ptr<Task> task);
    void after_infer(std::unique_ptr<Task> task);
    void run_local(std::unique_ptr<Task> task);
    static void infer_here(Task &task, const char *model, double slowdown);
    // Split execution: the model's head here (worker), then the tensor goes upstream.
    void run_head(std::unique_ptr<Task> task);
    // Sends the task's request (image or head tensor) to its tier; runs it here when it
    // cannot go out.
    void send_offload(std::unique_ptr<Task> task);
    static void on_sweep(uv_timer_t *timer);
    // Link probes (a small and a large message back to back) to every online tier.
    static void on_probe_tick(uv_timer_t *timer);
    void on_probe_reply(const std::string &id);
    LinkEstimator &link(tierd_tier tier) { return links_[tier == TIERD_TIER_CLOUD ? 1 : 0]; }
    void finish(std::unique_ptr<Task> task);
    void write_jsonl(std::string line);
    void queue(std::unique_ptr<Work> work);
    void maybe_stopped();
    static void on_rate_tick(uv_timer_t *timer);

    uv_loop_t *loop_;
    PipelineOptions options_;
    PluginsNow plugins_now_;
    Publish publish_;
    Release release_;

    std::shared_ptr<ImageSource> source_; // shared with the worker reading a batch
    std::string source_text_;
    std::string error_;
    std::string state_ = "starting"; // starting | running | finished | stopped | failed
    std::deque<SourceImage> buffered_;
    bool reading_ = false;
    bool source_done_ = false;
    bool stopping_ = false;
    std::function<void()> stop_done_;
    int in_flight_ = 0; // tasks started and not finished
    int jobs_ = 0;      // uv work items queued (tasks, reads, writes)
    uint64_t started_ = 0;
    uint64_t next_seq_ = 0;

    // Rate limiting: a timer grants tokens at rate_hz.
    uv_timer_t rate_timer_{};
    bool rate_timer_running_ = false;
    double tokens_ = 0.0;

    // JSONL: one writer job at a time keeps the lines in order.
    std::string jsonl_pending_;
    bool jsonl_writing_ = false;
    std::FILE *jsonl_ = nullptr;

    // Offload: tasks waiting for an upstream reply, by task id; a timer sweeps deadlines.
    Upstream upstream_;
    std::function<bool()> admit_;
    bool blocked_ = false; // the last dispatch() stopped at admit_ (status: "blocked")
    std::map<std::string, std::unique_ptr<Task>> pending_;
    uv_timer_t sweep_timer_{};
    bool sweeping_ = false;
    uint64_t late_replies_ = 0;
    // Link estimates for the edge [0] and the cloud [1], and the probes in flight: id ->
    // (tier, bytes, sent at); a pair completes when both of its replies are in.
    LinkEstimator links_[2];
    struct Probe {
        tierd_tier tier;
        std::size_t bytes;
        uint64_t sent_ns;
        double rtt_ms = -1.0;
    };
    std::map<std::string, Probe> probes_;
    uv_timer_t probe_timer_{};
    bool probing_ = false;
    uint64_t probe_seq_ = 0;
    uint64_t splits_ = 0, split_fallbacks_ = 0;
    uint64_t pushed_ = 0, dropped_ = 0, undecodable_ = 0;

    // Counters.
    uint64_t done_ = 0, failed_ = 0, labelled_ = 0, correct_ = 0, fallbacks_ = 0;
    uint64_t by_tier_[4] = {0, 0, 0, 0};
    double total_ms_sum_ = 0.0;
    double infer_ms_sum_ = 0.0;   // local compute time of finished tasks that computed here
    uint64_t local_computed_ = 0; // ... and their number
    // The largest head tensor seen (floats): split tasks start with a buffer this big, so
    // the head is not run twice (ERANGE) once one task has learned the size. Workers read
    // and raise it.
    std::atomic<uint32_t> head_capacity_{4096};
    int workers_ = 1; // libuv pool threads: local tasks run this many at once
    nlohmann::json links_json() const;
    // The scheduler's decide() call as the host times it (plugin call included), over the
    // last 1024 decisions: {"p50", "p99", "max", "samples"} in microseconds.
    std::array<float, 1024> decide_us_{};
    uint64_t decide_count_ = 0;
    nlohmann::json decide_percentiles() const;
};

} // namespace tierd
