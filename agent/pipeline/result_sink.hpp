// Where a finished task goes: its result document (docs/mqtt.md, "Results") to the
// results topic (through the agent's durable spool) and to the JSONL file, and the
// counters the status reports (done, failed, top-1, where tasks ran, time per task).
//
// Threads: loop thread; the JSONL file is written on a worker, one chunk at a time so
// that lines stay in order.
#pragma once

#include "agent/config/config.hpp"
#include "agent/pipeline/task.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace tierd {

class ResultSink {
  public:
    // Publishes one result document (loop thread).
    using Publish = std::function<void(const std::string &payload)>;
    struct Options {
        ResultsConfig results;
        std::string device_id;
        tierd_tier local_tier = TIERD_TIER_END;
        double emulate_slowdown = 1.0;
    };
    ResultSink(uv_loop_t *loop, Options options, Publish publish);
    ~ResultSink();
    ResultSink(const ResultSink &) = delete;
    ResultSink &operator=(const ResultSink &) = delete;

    // Writes `task`'s result and counts it.
    void write(const Task &task);

    // The mean local compute time of tasks that computed here (0 before any): how long a
    // queued task holds a worker, for the scheduler's local_queue_ms.
    double mean_local_compute_ms() const {
        return local_computed_ > 0 ? compute_ms_sum_ / static_cast<double>(local_computed_) : 0.0;
    }
    std::uint64_t done() const { return done_; }
    std::uint64_t failed() const { return failed_; }
    // No JSONL chunk is being written.
    bool idle() const { return !jsonl_writing_; }
    // Runs once idle() (at once if it is).
    void when_idle(std::function<void()> done);
    // "done", "failed", "by_tier", "fallbacks", "labelled", "correct", "top1"?, "mean_ms".
    void add_stats(nlohmann::json &stats) const;

  private:
    std::string document(const Task &task, bool ok, tierd_tier ran_on, double total_ms) const;
    void write_jsonl(std::string line);

    uv_loop_t *loop_;
    Options options_;
    Publish publish_;

    // JSONL: one writer job at a time keeps the lines in order.
    std::string jsonl_pending_;
    bool jsonl_writing_ = false;
    std::FILE *jsonl_ = nullptr;
    std::function<void()> when_idle_;

    std::uint64_t done_ = 0, failed_ = 0, labelled_ = 0, correct_ = 0, fallbacks_ = 0;
    std::uint64_t by_tier_[4] = {0, 0, 0, 0};
    double total_ms_sum_ = 0.0;
    double compute_ms_sum_ = 0.0;      // local compute time of finished tasks that computed here
    std::uint64_t local_computed_ = 0; // ... and their number
};

} // namespace tierd
