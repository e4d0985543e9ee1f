// A test inference plugin for the offload server's tests: each infer() takes `infer_ms`
// and answers `top_class`, so a test can act while a batch runs; and it tells on which
// thread it was torn down. When `destroy_report` names a file, the instance's destroy()
// (this class's destructor) writes there "loop" when it ran on the process's main thread
// (tierd and the unit tests run their libuv loop there) and "worker" otherwise: the agent
// promises that plugin teardown never runs on the loop (it may block: dlclose, joins).
#include <tierd/plugin.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace {

class SlowInfer {
  public:
    static constexpr const char *name = "test-slow-infer";
    static constexpr const char *version = "0.0.1";
    static constexpr const char *description =
        "an inference plugin that takes a set time and reports where it was destroyed";
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_int("infer_ms", "0", 0, 60000, "how long each infer() sleeps"),
        tierd::key_int("top_class", "3", 0, 1000, "the class every inference answers"),
        tierd::key_string("destroy_report", "",
                          "a file the destructor writes \"loop\" or \"worker\" to"),
    };

    SlowInfer(tierd::Host host, const tierd::Config &config)
        : host_(host), infer_ms_(config.get_int("infer_ms")),
          top_class_(config.get_int("top_class")),
          destroy_report_(config.get_string("destroy_report")) {}

    ~SlowInfer() {
        if (destroy_report_.empty())
            return;
        const bool on_main = syscall(SYS_gettid) == getpid();
        // Written whole and renamed into place, so a test that polls for the file never
        // reads half of it.
        const std::string part = destroy_report_ + ".part";
        if (FILE *f = std::fopen(part.c_str(), "w")) {
            std::fputs(on_main ? "loop" : "worker", f);
            std::fclose(f);
            std::rename(part.c_str(), destroy_report_.c_str());
        }
        host_.info(std::string("destroyed on ") + (on_main ? "the loop thread" : "a worker"));
    }

    int infer(const tierd_task &task, const char *, tierd_inference_result &out) {
        host_.info(std::string("infer started: ") + (task.task_id ? task.task_id : ""));
        std::this_thread::sleep_for(std::chrono::milliseconds(infer_ms_));
        out.top_class = static_cast<int32_t>(top_class_);
        out.top_score = 1.0f;
        std::snprintf(out.model, sizeof out.model, "slow");
        out.compute_ms = static_cast<double>(infer_ms_);
        return TIERD_OK;
    }

  private:
    tierd::Host host_;
    int64_t infer_ms_;
    int64_t top_class_;
    std::string destroy_report_;
};

} // namespace

TIERD_PLUGIN(SlowInfer, TIERD_KIND_INFERENCE)
