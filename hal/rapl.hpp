#pragma once
// Intel/AMD RAPL via powercap: /sys/class/powercap/intel-rapl:N/{name,energy_uj,
// max_energy_range_uj}. energy_uj is a wrapping counter in microjoules.
#include "hal/fs_root.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace tierd::hal {

// Microjoules elapsed between two counter reads, given the counter's range
// (it wraps to 0 after max_range_uj). A reading below the previous one is a wrap.
std::uint64_t rapl_delta_uj(std::uint64_t prev_uj, std::uint64_t cur_uj,
                            std::uint64_t max_range_uj);

struct RaplZone {
    std::string name;          // "package-0", "psys", ...
    std::filesystem::path dir; // root-relative zone directory
    std::uint64_t max_range_uj = 0;
    std::uint64_t last_uj = 0;
};

// Top-level zones only (intel-rapl:N, not subzones intel-rapl:N:M, which are
// already included in their package and would double-count).
class Rapl {
  public:
    explicit Rapl(const FsRoot &fs);
    bool available() const { return !zones_.empty(); }
    // Joules accumulated by all zones since the previous call (0 on first call).
    double read_delta_j(const FsRoot &fs);
    std::string zone_names() const; // "package-0+package-1"
    const std::vector<RaplZone> &zones() const { return zones_; }

  private:
    std::vector<RaplZone> zones_;
};

} // namespace tierd::hal
