#include "hal/memory.hpp"

#include <sstream>
#include <string>

namespace tierd::hal {

MemoryInfo read_memory(const FsRoot &fs) {
    MemoryInfo m;
    bool have_available = false;
    std::istringstream in(fs.read("/proc/meminfo").value_or(""));
    std::string key;
    std::uint64_t kib = 0;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        if (!(ls >> key >> kib))
            continue;
        if (key == "MemTotal:")
            m.total_bytes = kib * 1024;
        else if (key == "MemFree:")
            m.free_bytes = kib * 1024;
        else if (key == "MemAvailable:") {
            m.available_bytes = kib * 1024;
            have_available = true;
        }
    }
    if (!have_available) // kernels before 3.14 lack MemAvailable
        m.available_bytes = m.free_bytes;
    return m;
}

} // namespace tierd::hal
