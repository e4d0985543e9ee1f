#pragma once
// Board identity: device-tree model (ARM boards) and CPU model name (x86 and others).
#include "hal/fs_root.hpp"

#include <string>

namespace tierd::hal {

struct BoardInfo {
    std::string model;     // /proc/device-tree/model, empty on x86
    std::string cpu_model; // first "model name" (or "Hardware"/"Model") in /proc/cpuinfo
};

BoardInfo read_board(const FsRoot &fs);

} // namespace tierd::hal
