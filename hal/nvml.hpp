#pragma once
// NVIDIA GPUs via NVML, loaded with dlopen at run time so tierd neither links
// nor needs CUDA. No library (or a failing nvmlInit) simply means no GPUs.
#include <optional>
#include <string>
#include <vector>

namespace tierd::hal {

struct GpuInfo {
    unsigned index = 0;
    std::string name;
    std::optional<double> util_gpu; // 0..1
    std::optional<double> util_mem; // 0..1
    std::optional<unsigned long long> mem_total_bytes, mem_used_bytes;
    std::optional<double> power_w;  // nvmlDeviceGetPowerUsage is in mW
    std::optional<double> energy_j; // total since driver load; NVML gives mJ
};

class Nvml {
  public:
    explicit Nvml(const std::string &library = "libnvidia-ml.so.1");
    ~Nvml();
    Nvml(const Nvml &) = delete;
    Nvml &operator=(const Nvml &) = delete;

    bool available() const { return ok_; }
    std::vector<GpuInfo> gpus() const;

  private:
    struct Api;
    void *lib_ = nullptr;
    Api *api_ = nullptr;
    bool ok_ = false;
};

} // namespace tierd::hal
