#include "driftgen_run.hpp"

#include <cstdlib>

namespace tierd::drift_test {

RunResult run_driftgen(const std::vector<std::string> &args) {
    const char *other = std::getenv("TIERD_DRIFTGEN");
    return test_support::run_program(other != nullptr ? other : TIERD_DRIFTGEN_PATH, args);
}

} // namespace tierd::drift_test
