#include "agent/core/test_hooks.hpp"

#include "agent/core/commands.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace tierd {

void register_test_hooks(CommandTable &commands) {
    const char *env = std::getenv("TIERD_TEST_HOOKS");
    if (env == nullptr || std::strcmp(env, "1") != 0)
        return;
    spdlog::warn("TIERD_TEST_HOOKS=1: test-only commands enabled (debug.block_loop)");
    commands.add("debug.block_loop", [](const nlohmann::json &args) {
        const auto it = args.find("ms");
        if (it == args.end() || !it->is_number_integer() || it->get<long long>() < 0 ||
            it->get<long long>() > 600000)
            throw CommandError{"invalid_args", "\"ms\" must be an integer 0..600000"};
        const auto ms = it->get<long long>();
        spdlog::warn("debug.block_loop: blocking the event loop for {} ms", ms);
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return nlohmann::json{{"blocked_ms", ms}};
    });
}

} // namespace tierd
