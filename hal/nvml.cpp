#include "hal/nvml.hpp"

#include <dlfcn.h>

namespace tierd::hal {

namespace {
// The few NVML ABI pieces we use, declared here instead of including nvml.h.
using nvmlReturn_t = int; // 0 == NVML_SUCCESS
using nvmlDevice_t = void *;
struct nvmlUtilization_t {
    unsigned int gpu, memory; // percent
};
struct nvmlMemory_t {
    unsigned long long total, free, used; // bytes
};
} // namespace

struct Nvml::Api {
    nvmlReturn_t (*init)();
    nvmlReturn_t (*shutdown)();
    nvmlReturn_t (*count)(unsigned int *);
    nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*util)(nvmlDevice_t, nvmlUtilization_t *);
    nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
    nvmlReturn_t (*power)(nvmlDevice_t, unsigned int *);        // mW
    nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *); // mJ
};

namespace {
template <typename Fn> bool bind(void *lib, const char *sym, Fn &fn) {
    // POSIX guarantees data/function pointer round-trips for dlsym.
    fn = reinterpret_cast<Fn>(dlsym(lib, sym));
    return fn != nullptr;
}
} // namespace

Nvml::Nvml(const std::string &library) {
    lib_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib_)
        return;
    api_ = new Api{};
    const bool bound = bind(lib_, "nvmlInit_v2", api_->init) &&
                       bind(lib_, "nvmlShutdown", api_->shutdown) &&
                       bind(lib_, "nvmlDeviceGetCount_v2", api_->count) &&
                       bind(lib_, "nvmlDeviceGetHandleByIndex_v2", api_->handle) &&
                       bind(lib_, "nvmlDeviceGetName", api_->name);
    // Optional queries: older drivers/GPUs may lack them.
    bind(lib_, "nvmlDeviceGetUtilizationRates", api_->util);
    bind(lib_, "nvmlDeviceGetMemoryInfo", api_->memory);
    bind(lib_, "nvmlDeviceGetPowerUsage", api_->power);
    bind(lib_, "nvmlDeviceGetTotalEnergyConsumption", api_->energy);
    ok_ = bound && api_->init() == 0;
}

Nvml::~Nvml() {
    if (ok_)
        api_->shutdown();
    delete api_;
    if (lib_)
        dlclose(lib_);
}

std::vector<GpuInfo> Nvml::gpus() const {
    std::vector<GpuInfo> out;
    unsigned int n = 0;
    if (!ok_ || api_->count(&n) != 0)
        return out;
    for (unsigned int i = 0; i < n; ++i) {
        nvmlDevice_t dev = nullptr;
        if (api_->handle(i, &dev) != 0)
            continue;
        GpuInfo g;
        g.index = i;
        char name[96] = {}; // NVML_DEVICE_NAME_V2_BUFFER_SIZE
        if (api_->name(dev, name, sizeof name) == 0)
            g.name = name;
        if (nvmlUtilization_t u{}; api_->util && api_->util(dev, &u) == 0) {
            g.util_gpu = u.gpu / 100.0;
            g.util_mem = u.memory / 100.0;
        }
        if (nvmlMemory_t m{}; api_->memory && api_->memory(dev, &m) == 0) {
            g.mem_total_bytes = m.total;
            g.mem_used_bytes = m.used;
        }
        if (unsigned int mw = 0; api_->power && api_->power(dev, &mw) == 0)
            g.power_w = mw / 1000.0;
        if (unsigned long long mj = 0; api_->energy && api_->energy(dev, &mj) == 0)
            g.energy_j = static_cast<double>(mj) / 1000.0;
        out.push_back(std::move(g));
    }
    return out;
}

} // namespace tierd::hal
