#include "hal/board.hpp"

#include <sstream>

namespace tierd::hal {

namespace {
std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}
} // namespace

BoardInfo read_board(const FsRoot &fs) {
    BoardInfo info;
    info.model = fs.read_line("/proc/device-tree/model").value_or("");
    std::istringstream in(fs.read("/proc/cpuinfo").value_or(""));
    std::string line, fallback;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        const std::string key = trim(line.substr(0, colon));
        const std::string value = trim(line.substr(colon + 1));
        if (key == "model name") { // x86 and most ARM64 kernels
            info.cpu_model = value;
            break;
        }
        // Older ARM kernels (e.g. Raspberry Pi) only give "Hardware"/"Model".
        if ((key == "Hardware" || key == "Model") && fallback.empty())
            fallback = value;
    }
    if (info.cpu_model.empty())
        info.cpu_model = fallback;
    return info;
}

} // namespace tierd::hal
