#include "hal/hwmon.hpp"

namespace tierd::hal {

namespace {
// Sum of <dir>/<prefix>K_input files, scaled; nullopt when none exist.
std::optional<double> sum_inputs(const FsRoot &fs, const std::filesystem::path &dir,
                                 const std::string &prefix, double scale) {
    std::optional<double> sum;
    for (const auto &f : fs.list(dir, prefix)) {
        const std::string n = f.filename().string();
        if (n.size() < 6 || n.compare(n.size() - 6, 6, "_input") != 0)
            continue;
        if (const auto v = fs.read_int(f))
            sum = sum.value_or(0) + static_cast<double>(*v) * scale;
    }
    return sum;
}

std::vector<PowerRail> read_ina3221(const FsRoot &fs, const std::filesystem::path &dir) {
    std::vector<PowerRail> rails;
    for (int ch = 1; ch <= 3; ++ch) { // INA3221 has three channels
        const std::string k = std::to_string(ch);
        const auto mv = fs.read_int(dir / ("in" + k + "_input"));
        const auto ma = fs.read_int(dir / ("curr" + k + "_input"));
        if (!mv || !ma)
            continue;
        PowerRail r;
        r.label = fs.read_line(dir / ("in" + k + "_label")).value_or("channel" + k);
        r.voltage_v = static_cast<double>(*mv) / 1e3;
        r.current_a = static_cast<double>(*ma) / 1e3;
        r.power_w = r.voltage_v * r.current_a;
        rails.push_back(std::move(r));
    }
    return rails;
}
} // namespace

std::vector<HwmonDevice> read_hwmon(const FsRoot &fs) {
    std::vector<HwmonDevice> out;
    for (const auto &dir : fs.list("/sys/class/hwmon", "hwmon")) {
        HwmonDevice d;
        d.dir = dir;
        d.name = fs.read_line(dir / "name").value_or(dir.filename().string());
        d.power_w = sum_inputs(fs, dir, "power", 1e-6);   // uW -> W
        d.energy_j = sum_inputs(fs, dir, "energy", 1e-6); // uJ -> J
        if (d.name == "ina3221") {
            d.rails = read_ina3221(fs, dir);
            // Rails may overlap (VDD_IN is the whole module on TX2); prefer a
            // rail whose label says it is the input, else sum the channels.
            double sum_w = 0;
            std::optional<double> input_w;
            for (const auto &r : d.rails) {
                sum_w += r.power_w;
                if (r.label == "VDD_IN")
                    input_w = r.power_w;
            }
            if (!d.power_w && !d.rails.empty())
                d.power_w = input_w.value_or(sum_w);
        }
        if (d.power_w || d.energy_j)
            out.push_back(std::move(d));
    }
    return out;
}

} // namespace tierd::hal
