#include "hal/energy.hpp"

#include "hal/hwmon.hpp"

namespace tierd::hal {

namespace {
// Sum of a per-GPU field, or nullopt unless every GPU reports it.
template <typename F> std::optional<double> sum_gpus(const Nvml &nvml, F field) {
    const auto gpus = nvml.gpus();
    if (gpus.empty())
        return std::nullopt;
    double sum = 0;
    for (const auto &g : gpus) {
        const std::optional<double> v = field(g);
        if (!v)
            return std::nullopt;
        sum += *v;
    }
    return sum;
}
} // namespace

EnergyMeter::EnergyMeter(const FsRoot &fs, DeviceProfile profile, const Nvml &nvml,
                         Clock::time_point now)
    : profile_(std::move(profile)), last_(now) {
    if (Rapl r(fs); r.available()) {
        kind_ = Kind::Rapl;
        source_ = "measured:rapl:" + r.zone_names();
        rapl_.emplace(std::move(r));
        return;
    }
    for (const auto &d : read_hwmon(fs)) {
        hwmon_name_ = d.name;
        hwmon_dir_ = d.dir;
        kind_ = d.energy_j ? Kind::HwmonEnergy : Kind::HwmonPower;
        source_ = "measured:hwmon:" + d.name;
        last_counter_j_ = d.energy_j.value_or(0);
        return;
    }
    if (const auto e = sum_gpus(nvml, [](const GpuInfo &g) { return g.energy_j; })) {
        kind_ = Kind::NvmlEnergy;
        last_counter_j_ = *e;
        source_ = "measured:nvml";
    } else if (sum_gpus(nvml, [](const GpuInfo &g) { return g.power_w; })) {
        kind_ = Kind::NvmlPower;
        source_ = "measured:nvml";
    } else {
        kind_ = Kind::Estimate;
        source_ = "estimated:" + profile_.name;
    }
}

std::optional<double> EnergyMeter::counter_j(const FsRoot &fs, const Nvml &nvml) const {
    if (kind_ == Kind::NvmlEnergy)
        return sum_gpus(nvml, [](const GpuInfo &g) { return g.energy_j; });
    for (const auto &d : read_hwmon(fs))
        if (d.dir == hwmon_dir_)
            return d.energy_j;
    return std::nullopt;
}

std::optional<double> EnergyMeter::power_now_w(const FsRoot &fs, const Nvml &nvml) const {
    if (kind_ == Kind::NvmlPower)
        return sum_gpus(nvml, [](const GpuInfo &g) { return g.power_w; });
    for (const auto &d : read_hwmon(fs))
        if (d.dir == hwmon_dir_)
            return d.power_w;
    return std::nullopt;
}

EnergyReading EnergyMeter::read(const FsRoot &fs, const Nvml &nvml, double cpu_load,
                                Clock::time_point now) {
    const double dt_s = std::chrono::duration<double>(now - last_).count();
    double delta_j = 0;
    double power_w = 0;
    switch (kind_) {
    case Kind::Rapl: delta_j = rapl_->read_delta_j(fs); break;
    case Kind::HwmonEnergy:
    case Kind::NvmlEnergy:
        if (const auto c = counter_j(fs, nvml)) {
            // A counter going backwards was reset (driver reload); count nothing.
            delta_j = *c >= last_counter_j_ ? *c - last_counter_j_ : 0;
            last_counter_j_ = *c;
        }
        break;
    case Kind::HwmonPower:
    case Kind::NvmlPower:
        // Instantaneous power held over the interval (rectangle rule).
        power_w = power_now_w(fs, nvml).value_or(0);
        delta_j = power_w * dt_s;
        break;
    case Kind::Estimate: {
        // Linear power model between the profile's idle and fully-busy figures.
        const double load = cpu_load < 0 ? 0 : (cpu_load > 1 ? 1 : cpu_load);
        power_w = profile_.idle_power_w + (profile_.active_power_w - profile_.idle_power_w) * load;
        delta_j = power_w * dt_s;
        break;
    }
    }
    if ((kind_ == Kind::Rapl || kind_ == Kind::HwmonEnergy || kind_ == Kind::NvmlEnergy) &&
        dt_s > 0)
        power_w = delta_j / dt_s;
    total_j_ += delta_j;
    last_ = now;
    return {total_j_, power_w, source_};
}

} // namespace tierd::hal
