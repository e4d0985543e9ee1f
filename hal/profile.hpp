#pragma once
// Device profiles (config/profiles/<name>.toml): nominal power and speed
// figures used when no power sensor exists and for placement decisions.
#include <filesystem>
#include <string>
#include <vector>

namespace tierd::hal {

struct DeviceProfile {
    std::string name; // file stem, e.g. "jetson-tx2"
    std::string description;
    double idle_power_w = 0;       // whole board, idle
    double active_power_w = 0;     // whole board, all cores busy
    double relative_compute = 1.0; // throughput relative to the x86 edge server = 1.0
    double radio_tx_power_dbm = 0; // transmit power of the uplink radio
};

// Parses one profile file; throws std::runtime_error on bad/missing fields.
DeviceProfile load_profile_file(const std::filesystem::path &file);
// Finds <name>.toml in the first dir holding it; throws std::runtime_error if none.
DeviceProfile load_profile(const std::string &name, const std::vector<std::filesystem::path> &dirs);
// Used when no profile is configured: deliberately generic, and labelled so.
DeviceProfile generic_profile();

} // namespace tierd::hal
