#include "hal/cpu.hpp"

#include <sstream>
#include <string>

namespace tierd::hal {

CpuInfo CpuMonitor::sample(const FsRoot &fs) {
    CpuInfo info;
    std::istringstream in(fs.read("/proc/stat").value_or(""));
    std::string line;
    std::uint64_t total = 0, idle = 0;
    bool have_aggregate = false;
    while (std::getline(in, line)) {
        if (line.rfind("cpu", 0) != 0)
            continue;
        if (line.size() > 3 && line[3] == ' ') {
            // Aggregate line, jiffies: user nice system idle iowait irq softirq steal ...
            std::istringstream ls(line.substr(3));
            std::uint64_t v = 0;
            for (int i = 0; i < 8 && ls >> v; ++i) { // guest fields are already in user
                total += v;
                if (i == 3 || i == 4) // idle + iowait count as not busy
                    idle += v;
            }
            have_aggregate = true;
        } else {
            ++info.cores;
        }
    }
    for (unsigned i = 0; i < info.cores; ++i) {
        const auto khz = fs.read_int("/sys/devices/system/cpu/cpu" + std::to_string(i) +
                                     "/cpufreq/scaling_cur_freq");
        info.freq_mhz.push_back(khz ? static_cast<double>(*khz) / 1000.0 : 0.0);
    }
    if (have_aggregate) {
        if (have_prev_ && total > prev_total_) {
            const double busy = static_cast<double>((total - prev_total_) - (idle - prev_idle_));
            last_load_ = busy / static_cast<double>(total - prev_total_);
            info.load = last_load_;
        }
        prev_total_ = total;
        prev_idle_ = idle;
        have_prev_ = true;
    }
    return info;
}

} // namespace tierd::hal
