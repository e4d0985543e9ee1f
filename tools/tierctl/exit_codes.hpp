// tierctl's exit codes (documented in --help and docs/tierctl.md) and the two errors that
// end a run early: scripts branch on these numbers, so they never change meaning.
#pragma once

#include <stdexcept>
#include <string>

namespace tierctl {

enum ExitCode : int {
    kExitOk = 0,      // every addressed device answered, and every answer was ok
    kExitFailure = 1, // nothing went right: no connection, no ok answer at all
    kExitUsage = 2,   // bad arguments, environment value or config file; nothing was sent
    kExitPartial = 3, // some devices answered ok, others did not answer or answered an error
};

// Bad arguments or settings: reported with a hint to --help, exit 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The run cannot go on (broker unreachable, refused, connection lost): exit 1.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace tierctl
