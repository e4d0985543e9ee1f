#include "hal/hal.hpp"

#include "hal/board.hpp"
#include "hal/hwmon.hpp"
#include "hal/memory.hpp"
#include "hal/rapl.hpp"
#include "hal/thermal.hpp"

#include <stdexcept>

namespace tierd::hal {

namespace {
DeviceProfile pick_profile(const HalOptions &o) {
    return o.profile.empty() ? generic_profile() : load_profile(o.profile, o.profile_dirs);
}

template <typename T> nlohmann::json opt(const std::optional<T> &v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
} // namespace

Hal::Hal(HalOptions options)
    : fs_(options.root), profile_(pick_profile(options)), nvml_(options.nvml_library),
      energy_(fs_, profile_, nvml_) {
    cpu_.sample(fs_); // prime /proc/stat so the next sample has a load delta
}

nlohmann::json Hal::section_json(std::string_view section) {
    using nlohmann::json;
    if (section == "board") {
        const auto b = read_board(fs_);
        return {{"model", b.model}, {"cpu_model", b.cpu_model}, {"profile", profile_.name}};
    }
    if (section == "cpu") {
        const auto c = cpu_.sample(fs_);
        return {{"cores", c.cores}, {"freq_mhz", c.freq_mhz}, {"load", opt(c.load)}};
    }
    if (section == "memory") {
        const auto m = read_memory(fs_);
        return {{"total_bytes", m.total_bytes},
                {"available_bytes", m.available_bytes},
                {"free_bytes", m.free_bytes}};
    }
    if (section == "thermal") {
        json zones = json::array();
        for (const auto &z : read_thermal(fs_))
            zones.push_back({{"zone", z.zone}, {"type", z.type}, {"temp_c", z.temp_c}});
        return zones;
    }
    if (section == "power") {
        json rapl = json::array();
        const Rapl rapl_now(fs_); // named: zones() refers into it
        for (const auto &z : rapl_now.zones())
            rapl.push_back({{"name", z.name}, {"energy_uj", z.last_uj}});
        json hwmon = json::array();
        for (const auto &d : read_hwmon(fs_)) {
            json rails = json::array();
            for (const auto &r : d.rails)
                rails.push_back({{"label", r.label},
                                 {"voltage_v", r.voltage_v},
                                 {"current_a", r.current_a},
                                 {"power_w", r.power_w}});
            hwmon.push_back({{"name", d.name},
                             {"power_w", opt(d.power_w)},
                             {"energy_j", opt(d.energy_j)},
                             {"rails", rails}});
        }
        // Nothing here is estimated: the estimate only appears via read_energy().
        return {{"rapl", rapl}, {"hwmon", hwmon}, {"measured", energy_.measured()}};
    }
    if (section == "gpu") {
        json gpus = json::array();
        for (const auto &g : nvml_.gpus())
            gpus.push_back({{"index", g.index},
                            {"name", g.name},
                            {"util_gpu", opt(g.util_gpu)},
                            {"util_mem", opt(g.util_mem)},
                            {"mem_total_bytes", opt(g.mem_total_bytes)},
                            {"mem_used_bytes", opt(g.mem_used_bytes)},
                            {"power_w", opt(g.power_w)},
                            {"energy_j", opt(g.energy_j)}});
        return gpus;
    }
    throw std::invalid_argument("unknown HAL section: " + std::string(section));
}

nlohmann::json Hal::snapshot_json(std::string_view section) {
    std::lock_guard lock(mu_);
    if (section != "all")
        return section_json(section);
    nlohmann::json all;
    for (const char *s : {"board", "cpu", "memory", "thermal", "power", "gpu"})
        all[s] = section_json(s);
    return all;
}

EnergyReading Hal::read_energy() {
    std::lock_guard lock(mu_);
    // A measured source is read as it is. The estimate needs the CPU load: reading
    // /proc/stat on every call (plugins read energy around each inference, thousands of
    // times a second) cost more than the inference of a small model, so the load is
    // sampled at most every 100 ms and the estimate integrates the latest one.
    if (energy_.measured())
        return energy_.read(fs_, nvml_, cpu_.last_load());
    const auto now = std::chrono::steady_clock::now();
    if (now - last_load_sample_ >= std::chrono::milliseconds(100)) {
        cpu_.sample(fs_);
        last_load_sample_ = now;
    }
    return energy_.read(fs_, nvml_, cpu_.last_load(), now);
}

} // namespace tierd::hal
