// A fraction 0..1 as the plugin's log lines show it: "87.4%".
#pragma once

#include <cstdio>
#include <string>

namespace inference_opencv {

inline std::string percent(double fraction) {
    char text[16];
    std::snprintf(text, sizeof text, "%.1f%%", fraction * 100.0);
    return text;
}

} // namespace inference_opencv
