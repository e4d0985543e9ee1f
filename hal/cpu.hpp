#pragma once
// CPU: core count, per-core current frequency and load from /proc/stat deltas.
#include "hal/fs_root.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace tierd::hal {

struct CpuInfo {
    unsigned cores = 0;           // "cpuN" lines in /proc/stat
    std::vector<double> freq_mhz; // per core; 0 when cpufreq is absent
    std::optional<double> load;   // 0..1 over all cores since the previous sample
};

// Keeps the previous /proc/stat counters: load is a delta between two samples,
// so the first sample has no load (nullopt) unless the counters say otherwise.
class CpuMonitor {
  public:
    CpuInfo sample(const FsRoot &fs);
    // Last known load (0 before any delta); used by the energy estimator.
    double last_load() const { return last_load_; }

  private:
    std::uint64_t prev_total_ = 0, prev_idle_ = 0;
    bool have_prev_ = false;
    double last_load_ = 0;
};

} // namespace tierd::hal
