// The time now as UTC ISO 8601 to the second ("2026-12-06T21:24:51Z"): how the agent's
// files and replies stamp what they measured or received (profile.json, the model store).
#pragma once

#include <ctime>
#include <string>

namespace tierd {

inline std::string utc_now_iso8601() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

} // namespace tierd
