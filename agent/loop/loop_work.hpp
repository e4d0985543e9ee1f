// One piece of blocking work for libuv's worker pool and what to do with its outcome on
// the loop thread: the one wrapper over uv_queue_work that the agent, the pipeline and
// the offload server share. Header-only.
#pragma once

#include "agent/loop/background_thread.hpp"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <exception>
#include <functional>
#include <memory>
#include <utility>

namespace tierd {

// Runs `on_worker` on a pool thread, then `on_loop` on the loop thread (either may be
// empty). Call on the loop thread. An exception from `on_worker` is logged with `what`
// and `on_loop` still runs, so the caller's bookkeeping always completes. Pool threads run
// below the loop's priority (background_thread.hpp).
inline void queue_loop_work(uv_loop_t *loop, std::function<void()> on_worker,
                            std::function<void()> on_loop, const char *what = "work") {
    struct Job {
        uv_work_t req{};
        std::function<void()> on_worker, on_loop;
        const char *what;
    };
    auto job = std::make_unique<Job>();
    job->on_worker = std::move(on_worker);
    job->on_loop = std::move(on_loop);
    job->what = what;
    job->req.data = job.get();
    uv_queue_work(
        loop, &job.release()->req,
        [](uv_work_t *req) {
            auto *j = static_cast<Job *>(req->data);
            run_in_background();
            try {
                if (j->on_worker)
                    j->on_worker();
            } catch (const std::exception &e) {
                spdlog::error("{} failed on a worker: {}", j->what, e.what());
            } catch (...) {
                spdlog::error("{} failed on a worker", j->what);
            }
        },
        [](uv_work_t *req, int) {
            std::unique_ptr<Job> j(static_cast<Job *>(req->data));
            if (j->on_loop)
                j->on_loop();
        });
}

} // namespace tierd
