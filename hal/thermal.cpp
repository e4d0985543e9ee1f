#include "hal/thermal.hpp"

namespace tierd::hal {

std::vector<ThermalZone> read_thermal(const FsRoot &fs) {
    std::vector<ThermalZone> zones;
    for (const auto &dir : fs.list("/sys/class/thermal", "thermal_zone")) {
        const auto milli_c = fs.read_int(dir / "temp");
        if (!milli_c) // disabled zones return an error on read; skip them
            continue;
        zones.push_back({dir.filename().string(), fs.read_line(dir / "type").value_or(""),
                         static_cast<double>(*milli_c) / 1000.0});
    }
    return zones;
}

} // namespace tierd::hal
