// Test-only hooks for fault tests with real processes (bench/faults, tests/integration).
// Registered only when the environment variable TIERD_TEST_HOOKS=1 is set at start;
// otherwise the ops do not exist (`unknown_op`). Never set it in production.
#pragma once

namespace tierd {

class CommandTable;

// Adds the test-only commands to `commands` when TIERD_TEST_HOOKS=1:
//   debug.block_loop {"ms": N}: sleeps N ms (0..600000) on the loop thread — a stuck event
//   loop, for watchdog tests — and then replies {"blocked_ms": N}.
void register_test_hooks(CommandTable &commands);

} // namespace tierd
