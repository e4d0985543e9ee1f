// The clock spool entries are timed with: it reads as Unix time in milliseconds but never
// steps within a process run (an NTP step at boot must not age or rejuvenate entries), and
// the rule for the times stored by earlier runs.
#pragma once

#include <cstdint>

namespace tierd {

// The wall clock read once, at the first call in this process, plus the monotonic time
// since then. Thread-safe.
std::int64_t spool_now_ms();

// A stored time before this (2024-01-01T00:00:00Z) was written by a run whose clock was not
// set yet (a board without a real-time clock boots in 1970): it says nothing about the
// entry's age.
constexpr std::int64_t kSpoolClockFloorMs = 1704067200000;

} // namespace tierd
