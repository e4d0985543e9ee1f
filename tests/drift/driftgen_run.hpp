// Runs the real tierd-driftgen binary for the tests: a temporary folder per run, the exit
// status and the messages.
#pragma once

#include "tests/support/program_run.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace tierd::drift_test {

// A fresh folder under /tmp (removed by its destructor) and a finished run's exit status
// and messages: tests/support/program_run.hpp.
using test_support::TempDir;
using RunResult = test_support::ProgramRun;

// Runs tierd-driftgen with `args` (no shell: each element is one argument): the one this
// build made, or the one $TIERD_DRIFTGEN names (to run these tests against another build).
RunResult run_driftgen(const std::vector<std::string> &args);

using test_support::read_bytes;

} // namespace tierd::drift_test
