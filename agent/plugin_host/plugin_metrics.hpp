// Counters and gauges a plugin reports through its services table. Plugins call in from
// any thread, telemetry reads snapshots from the loop: a mutex-guarded pair of maps.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tierd {

class PluginMetrics {
  public:
    struct Snapshot {
        std::map<std::string, double> counters;
        std::map<std::string, double> gauges;
    };

    // A plugin that invents names without end must not grow the host without end.
    static constexpr std::size_t kMaxNames = 256;

    // Metric names are [a-z0-9_]+ (they become telemetry keys).
    static bool valid_name(std::string_view name);

    // Each returns false (and changes nothing) for an invalid name, a non-finite value, a
    // negative counter delta (counters only grow), or a new name past kMaxNames.
    bool counter_add(std::string_view name, double delta);
    bool gauge_set(std::string_view name, double value);

    Snapshot snapshot() const;

    // {"counters": {name: value, ...}, "gauges": {name: value, ...}}
    nlohmann::json to_json() const;

  private:
    bool room_for(std::string_view name) const; // caller holds mutex_

    mutable std::mutex mutex_;
    std::map<std::string, double, std::less<>> counters_;
    std::map<std::string, double, std::less<>> gauges_;
};

} // namespace tierd
