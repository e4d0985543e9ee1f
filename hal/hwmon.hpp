#pragma once
// hwmon power sensors: /sys/class/hwmon/hwmonN/{name, powerK_input (uW),
// energyK_input (uJ)}; Jetson INA3221 ("ina3221") rails from inK_label,
// inK_input (mV) and currK_input (mA).
#include "hal/fs_root.hpp"

#include <optional>
#include <string>
#include <vector>

namespace tierd::hal {

struct PowerRail {
    std::string label; // "VDD_IN", "VDD_SYS_GPU", ...
    double voltage_v = 0;
    double current_a = 0;
    double power_w = 0;
};

struct HwmonDevice {
    std::string name;               // hwmon "name"
    std::filesystem::path dir;      // root-relative
    std::optional<double> power_w;  // sum of powerK_input, or of INA3221 rails
    std::optional<double> energy_j; // sum of energyK_input (monotonic counters)
    std::vector<PowerRail> rails;   // INA3221 only
};

// All hwmon devices exposing power or energy; devices with neither are skipped.
std::vector<HwmonDevice> read_hwmon(const FsRoot &fs);

} // namespace tierd::hal
