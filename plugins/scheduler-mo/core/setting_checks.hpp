// Checks shared by the validators of scheduler-mo's settings (policy.cpp, key_frames.cpp):
// a refusal is std::invalid_argument whose text names the key, and numbers are written
// as the user would type them.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace scheduler_mo::checks {

inline void require(bool ok, const std::string &what) {
    if (!ok)
        throw std::invalid_argument(what);
}

inline std::string number_text(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", value);
    return buffer;
}

} // namespace scheduler_mo::checks
