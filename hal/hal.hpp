#pragma once
// Hal: the facade the agent uses. Thread-safe: every public call takes an
// internal mutex, so worker threads may call it concurrently.
#include "hal/cpu.hpp"
#include "hal/energy.hpp"
#include "hal/fs_root.hpp"
#include "hal/nvml.hpp"
#include "hal/profile.hpp"

#include <filesystem>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace tierd::hal {

struct HalOptions {
    std::filesystem::path root = "/";                // fake trees in tests
    std::string profile;                             // empty: generic estimate profile
    std::vector<std::filesystem::path> profile_dirs; // searched in order for <profile>.toml
    std::string nvml_library = "libnvidia-ml.so.1";
};

class Hal {
  public:
    // Throws std::runtime_error if a named profile cannot be found or parsed.
    explicit Hal(HalOptions options);

    // Sections: board cpu memory thermal power gpu all; others throw std::invalid_argument.
    nlohmann::json snapshot_json(std::string_view section = "all");
    EnergyReading read_energy();
    const DeviceProfile &profile() const { return profile_; }

  private:
    nlohmann::json section_json(std::string_view section);

    std::mutex mu_;
    FsRoot fs_;
    DeviceProfile profile_;
    Nvml nvml_;
    CpuMonitor cpu_;
    EnergyMeter energy_;
    // When read_energy() last sampled the CPU load for the estimate.
    std::chrono::steady_clock::time_point last_load_sample_{};
};

} // namespace tierd::hal
