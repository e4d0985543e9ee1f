// bare_loop SECONDS: the machine's floor for loop lag. A libuv loop that runs nothing but
// the agent's own loop-lag timer (agent/loop/loop_lag.cpp: the same 10 ms timer, the same
// arithmetic and histogram) for SECONDS, then prints one JSON line
// {"p50_ms", "p99_ms", "max_ms", "samples"}. run.sh runs it beside each scenario, for the
// same window, at the agent's priority: it shows how late any loop thread runs under that
// load on this machine (the vCPU's own wake-up and scheduling delays), so the agent's
// figure minus this one is what the agent's own work adds.
#include "agent/loop/loop_lag.hpp"

#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv) {
    const double seconds = argc == 2 ? std::atof(argv[1]) : 0.0;
    if (seconds <= 0.0) {
        std::fprintf(stderr, "usage: bare_loop SECONDS\n");
        return 2;
    }
    uv_loop_t *loop = uv_default_loop();
    tierd::LoopLag lag(loop);
    lag.start();
    uv_timer_t window;
    uv_timer_init(loop, &window);
    window.data = &lag;
    uv_timer_start(
        &window,
        [](uv_timer_t *timer) {
            auto *l = static_cast<tierd::LoopLag *>(timer->data);
            std::printf("%s\n", l->since_start().to_json().dump().c_str());
            l->stop();
            uv_close(reinterpret_cast<uv_handle_t *>(timer), nullptr);
        },
        static_cast<uint64_t>(seconds * 1000.0), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
