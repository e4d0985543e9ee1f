// A lane of blocking work for libuv's pool: items pushed on the loop run on workers, at
// most `parallel` jobs at once, each job taking every waiting item up to `max_batch`;
// each item comes back to the loop in order of its job's completion. An idle lane starts
// a job at once for one item (no added latency); a busy lane gathers what arrives
// meanwhile into the next job, so under load one worker round trip (queueing, waking a
// thread, waking the loop) serves many items instead of one each.
//
// Threads: push(), set_parallel(), pending() and running() are loop-thread only. `run`
// is called on a worker with the job's items (it may block); `done` on the loop for
// each item afterwards. Header-only.
#pragma once

#include "agent/loop/loop_work.hpp"

#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace tierd {

template <class Item> class WorkerLane {
  public:
    // Worker thread: process the job's items in place (they come back to `done` after).
    using Run = std::function<void(std::vector<Item> &items)>;
    // Loop thread: one processed item.
    using Done = std::function<void(Item item)>;

    WorkerLane(uv_loop_t *loop, unsigned parallel, std::size_t max_batch, Run run, Done done,
               const char *what)
        : loop_(loop), parallel_(std::max(1u, parallel)),
          max_batch_(std::max<std::size_t>(1, max_batch)), run_(std::move(run)),
          done_(std::move(done)), what_(what) {}
    WorkerLane(const WorkerLane &) = delete;
    WorkerLane &operator=(const WorkerLane &) = delete;

    void push(Item item) {
        waiting_.push_back(std::move(item));
        pump();
    }
    void set_parallel(unsigned parallel) {
        parallel_ = std::max(1u, parallel);
        pump();
    }
    // Items waiting for a job, and items inside running jobs.
    std::size_t pending() const { return waiting_.size(); }
    std::size_t running() const { return in_jobs_; }
    bool idle() const { return waiting_.empty() && jobs_ == 0; }

    // Called (on the loop) each time a job has finished and its items were handed back.
    std::function<void()> on_job_done;

  private:
    void pump() {
        while (jobs_ < parallel_ && !waiting_.empty()) {
            // Split what waits evenly over the free jobs, so one job does not take all
            // while another worker idles.
            const std::size_t free_jobs = parallel_ - jobs_;
            const std::size_t share = (waiting_.size() + free_jobs - 1) / free_jobs;
            const std::size_t n = std::min({waiting_.size(), max_batch_, share});
            auto items = std::make_shared<std::vector<Item>>();
            items->reserve(n);
            for (std::size_t i = 0; i < n; ++i) {
                items->push_back(std::move(waiting_.front()));
                waiting_.pop_front();
            }
            ++jobs_;
            in_jobs_ += n;
            queue_loop_work(
                loop_, [this, items] { run_(*items); },
                [this, items] {
                    --jobs_;
                    in_jobs_ -= items->size();
                    for (auto &item : *items)
                        done_(std::move(item));
                    pump();
                    if (on_job_done)
                        on_job_done();
                },
                what_);
        }
    }

    uv_loop_t *loop_;
    unsigned parallel_;
    std::size_t max_batch_;
    Run run_;
    Done done_;
    const char *what_;
    std::deque<Item> waiting_;
    unsigned jobs_ = 0;
    std::size_t in_jobs_ = 0;
};

} // namespace tierd
