// The loop thread first: every other thread of the agent (libuv's worker pool, which runs
// the plugins' inference and the decoders; the spool's writer; the MQTT connector) runs
// at a lower CPU priority, so that on a device whose cores are all busy computing, the
// loop still gets a core the moment a socket or a timer needs it: commands, PUBACKs and
// results are handled in time (bench/loop_lag) and the work goes on at full speed in the
// loop's idle time, which is nearly all of it. Under no contention nice values change
// nothing.
//
// Threads: call on the thread to lower, once or many times (only the first call acts).
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tierd {

// The nice value other threads run at, relative to the process's. Linux's CFS gives a
// thread at +5 about a third of the CPU share of one at 0, and wakes the loop ahead of it.
inline constexpr int kBackgroundNiceIncrement = 5;

// Lowers the calling thread's priority by kBackgroundNiceIncrement (Linux: nice values
// are per thread; threads it creates later, e.g. OpenCV's pool, inherit it). Raising a
// nice value needs no privilege; if it fails anyway, the thread runs as it was.
inline void run_in_background() {
    thread_local bool lowered = false;
    if (lowered)
        return;
    lowered = true;
#ifdef __linux__
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    const int now = ::getpriority(PRIO_PROCESS, tid);
    (void)::setpriority(PRIO_PROCESS, tid, now + kBackgroundNiceIncrement);
#endif
}

} // namespace tierd
