// Runs a real program for a test (no shell: each argument is one element) and keeps what it
// said; and temporary folders that clean up after themselves. Shared by the tests of the
// command-line tools (tierd-videogen, tierd-driftgen).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tierd::test_support {

// A fresh folder /tmp/<prefix>-XXXXXX, removed with everything in it by the destructor.
// Throws std::runtime_error when it cannot be made.
struct TempDir {
    explicit TempDir(const std::string &prefix = "tierd-test");
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::filesystem::path path;
};

struct ProgramRun {
    int exit_status = -1; // -1: did not exit normally (or could not be started: see err)
    std::string out, err; // everything it wrote to stdout and stderr
};

// Runs `program` with `args` and waits for it; its stdout and stderr go to files, so a
// program that writes a lot never blocks on a full pipe.
ProgramRun run_program(const std::string &program, const std::vector<std::string> &args);

// The whole content of a file ("" when it cannot be read).
std::string read_bytes(const std::filesystem::path &path);

} // namespace tierd::test_support
