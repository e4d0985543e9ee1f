#include "agent/core/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace tierd {

void setup_logging() {
    // systemd sets JOURNAL_STREAM for services whose stderr it connects to the journal;
    // then native journal entries keep each line's priority.
    if (std::getenv("JOURNAL_STREAM") != nullptr) {
        auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("tierd");
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("tierd", sink));
    } else {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("tierd", sink));
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    }
}

} // namespace tierd
