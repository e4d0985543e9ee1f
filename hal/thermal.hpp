#pragma once
// /sys/class/thermal/thermal_zone*/{type,temp}; temp is in millidegrees Celsius.
#include "hal/fs_root.hpp"

#include <string>
#include <vector>

namespace tierd::hal {

struct ThermalZone {
    std::string zone; // "thermal_zone0"
    std::string type; // "x86_pkg_temp", "cpu-thermal", ...
    double temp_c = 0;
};

std::vector<ThermalZone> read_thermal(const FsRoot &fs);

} // namespace tierd::hal
