// The end agent's task pipeline: images from a source become tasks that pass through
// the plugins — preclassifier (worker), scheduler (loop), inference (worker), fusion
// (loop) — and end as result documents (results topic, JSONL file).
//
// Threads: everything here runs on the loop thread except the three worker stages (read
// a batch from the source, classify, infer), which run on libuv's pool and touch only
// their own task. At most `workers.queue_limit` tasks are in flight.
//
// Offload to an edge or cloud tier is not in this version: a task the scheduler places
// upstream runs on the local inference plugin, and its result says so
// ("fallback": "no-offload").
#pragma once

#include "agent/config/config.hpp"
#include "agent/pipeline/image_source.hpp"
#include "agent/plugin_host/plugin_instance.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
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
    std::string device_id;
    tierd_tier local_tier = TIERD_TIER_END;
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

    // Counters.
    uint64_t done_ = 0, failed_ = 0, labelled_ = 0, correct_ = 0, fallbacks_ = 0;
    uint64_t by_tier_[4] = {0, 0, 0, 0};
    double total_ms_sum_ = 0.0;
};

} // namespace tierd
