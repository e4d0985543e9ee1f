// Runs the real tierd-driftgen binary for the tests: a temporary folder per run, the exit
// status and the messages.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tierd::drift_test {

// A fresh folder under /tmp, removed with everything in it by the destructor.
struct TempDir {
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::filesystem::path path;
};

struct RunResult {
    int exit_status = -1; // -1: did not exit normally
    std::string out, err;
};

// Runs tierd-driftgen with `args` (no shell: each element is one argument): the one this
// build made, or the one $TIERD_DRIFTGEN names (to run these tests against another build).
RunResult run_driftgen(const std::vector<std::string> &args);

std::string read_bytes(const std::filesystem::path &path);

} // namespace tierd::drift_test
