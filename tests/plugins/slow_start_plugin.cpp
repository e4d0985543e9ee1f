// A test plugin written with tierd/plugin.hpp whose constructor takes `start_ms` to
// return, so an integration test can act while the agent's start-up plugin load is still
// running (input messages that arrive then must not be lost).
#include <tierd/plugin.hpp>

#include <chrono>
#include <thread>

namespace {

class SlowStart {
  public:
    static constexpr const char *name = "test-slow-start";
    static constexpr const char *version = "0.0.1";
    static constexpr const char *description = "an inference plugin that is slow to start";
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_int("start_ms", "0", 0, 60000, "how long the constructor sleeps"),
        tierd::key_int("top_class", "7", 0, 1000, "the class every inference answers"),
    };

    SlowStart(tierd::Host, const tierd::Config &config) : top_class_(config.get_int("top_class")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(config.get_int("start_ms")));
    }

    int infer(const tierd_task &, const char *, tierd_inference_result &out) {
        out.top_class = static_cast<int32_t>(top_class_);
        out.top_score = 1.0f;
        return TIERD_OK;
    }

  private:
    int64_t top_class_;
};

} // namespace

TIERD_PLUGIN(SlowStart, TIERD_KIND_INFERENCE)
