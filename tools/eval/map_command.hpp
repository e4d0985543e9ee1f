// `tierd-eval map GT.json RESULTS`: reads both files, evaluates, prints the report.
#pragma once

#include <iosfwd>
#include <string>

namespace tierd::eval {

// tierd-eval's exit codes (in --help and docs/eval.md); scripts branch on them.
enum ExitCode : int {
    kExitOk = 0,
    kExitInput = 1, // a file cannot be read, is malformed, or names an image not in the GT
    kExitUsage = 2, // bad command line
};

struct MapOptions {
    std::string ground_truth_path;
    std::string results_path;
    bool json = false;
};

// Writes the report to `out` and warnings and errors to `err`; returns the exit code.
int run_map_command(const MapOptions &options, std::ostream &out, std::ostream &err);

} // namespace tierd::eval
