#pragma once
// EnergyMeter: one monotonic energy total from the best sensor present, or an
// estimate from the device profile and CPU load, always labelled as such.
#include "hal/fs_root.hpp"
#include "hal/nvml.hpp"
#include "hal/profile.hpp"
#include "hal/rapl.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace tierd::hal {

struct EnergyReading {
    double energy_j = 0; // monotonic total since the meter was created
    double power_w = 0;  // average since the previous reading (0 on the first sensor read)
    std::string source;  // "measured:rapl:<zone>", "measured:hwmon:<name>",
                         // "measured:nvml" or "estimated:<profile>"
};

class EnergyMeter {
  public:
    using Clock = std::chrono::steady_clock;
    // Picks the source once, so the total never mixes sources. Priority: RAPL,
    // hwmon, NVML, then the profile estimate.
    EnergyMeter(const FsRoot &fs, DeviceProfile profile, const Nvml &nvml,
                Clock::time_point now = Clock::now());
    // cpu_load (0..1) only drives the estimate.
    EnergyReading read(const FsRoot &fs, const Nvml &nvml, double cpu_load,
                       Clock::time_point now = Clock::now());
    bool measured() const { return kind_ != Kind::Estimate; }

  private:
    enum class Kind { Rapl, HwmonEnergy, HwmonPower, NvmlEnergy, NvmlPower, Estimate };
    std::optional<double> counter_j(const FsRoot &fs, const Nvml &nvml) const;
    std::optional<double> power_now_w(const FsRoot &fs, const Nvml &nvml) const;

    Kind kind_ = Kind::Estimate;
    DeviceProfile profile_;
    std::optional<Rapl> rapl_;
    std::string hwmon_name_;
    std::filesystem::path hwmon_dir_;
    std::string source_;
    double total_j_ = 0;
    double last_counter_j_ = 0;
    Clock::time_point last_;
};

} // namespace tierd::hal
