#pragma once
// /proc/meminfo: values there are in kB (KiB); we report bytes.
#include "hal/fs_root.hpp"

#include <cstdint>

namespace tierd::hal {

struct MemoryInfo {
    std::uint64_t total_bytes = 0;
    std::uint64_t available_bytes = 0; // MemAvailable (kernel's estimate), else MemFree
    std::uint64_t free_bytes = 0;
};

MemoryInfo read_memory(const FsRoot &fs);

} // namespace tierd::hal
