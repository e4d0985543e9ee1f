#include "hal/rapl.hpp"

namespace tierd::hal {

std::uint64_t rapl_delta_uj(std::uint64_t prev_uj, std::uint64_t cur_uj,
                            std::uint64_t max_range_uj) {
    if (cur_uj >= prev_uj)
        return cur_uj - prev_uj;
    // Wrapped: counted up to max_range_uj, then restarted from 0.
    return (max_range_uj - prev_uj) + cur_uj;
}

Rapl::Rapl(const FsRoot &fs) {
    for (const auto &dir : fs.list("/sys/class/powercap", "intel-rapl:")) {
        const std::string base = dir.filename().string();
        if (base.find(':') != base.rfind(':')) // subzone "intel-rapl:0:1"
            continue;
        const auto uj = fs.read_int(dir / "energy_uj"); // often root-only since CVE-2020-8694
        if (!uj || *uj < 0)
            continue;
        RaplZone z;
        z.name = fs.read_line(dir / "name").value_or(base);
        z.dir = dir;
        z.max_range_uj =
            static_cast<std::uint64_t>(fs.read_int(dir / "max_energy_range_uj").value_or(0));
        z.last_uj = static_cast<std::uint64_t>(*uj);
        zones_.push_back(std::move(z));
    }
}

double Rapl::read_delta_j(const FsRoot &fs) {
    std::uint64_t total_uj = 0;
    for (auto &z : zones_) {
        const auto uj = fs.read_int(z.dir / "energy_uj");
        if (!uj || *uj < 0)
            continue;
        const auto cur = static_cast<std::uint64_t>(*uj);
        total_uj += rapl_delta_uj(z.last_uj, cur, z.max_range_uj);
        z.last_uj = cur;
    }
    return static_cast<double>(total_uj) / 1e6;
}

std::string Rapl::zone_names() const {
    std::string out;
    for (const auto &z : zones_)
        out += (out.empty() ? "" : "+") + z.name;
    return out;
}

} // namespace tierd::hal
