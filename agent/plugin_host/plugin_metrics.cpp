#include "agent/plugin_host/plugin_metrics.hpp"

#include <cmath>

namespace tierd {

bool PluginMetrics::valid_name(std::string_view name) {
    if (name.empty() || name.size() > 128)
        return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

bool PluginMetrics::room_for(std::string_view name) const {
    return counters_.find(name) != counters_.end() || gauges_.find(name) != gauges_.end() ||
           counters_.size() + gauges_.size() < kMaxNames;
}

bool PluginMetrics::counter_add(std::string_view name, double delta) {
    if (!valid_name(name) || !std::isfinite(delta) || delta < 0)
        return false;
    std::lock_guard lock(mutex_);
    if (!room_for(name))
        return false;
    auto it = counters_.find(name);
    if (it == counters_.end())
        it = counters_.emplace(std::string(name), 0.0).first;
    it->second += delta;
    return true;
}

bool PluginMetrics::gauge_set(std::string_view name, double value) {
    if (!valid_name(name) || !std::isfinite(value))
        return false;
    std::lock_guard lock(mutex_);
    if (!room_for(name))
        return false;
    auto it = gauges_.find(name);
    if (it == gauges_.end())
        gauges_.emplace(std::string(name), value);
    else
        it->second = value;
    return true;
}

PluginMetrics::Snapshot PluginMetrics::snapshot() const {
    std::lock_guard lock(mutex_);
    Snapshot s;
    s.counters.insert(counters_.begin(), counters_.end());
    s.gauges.insert(gauges_.begin(), gauges_.end());
    return s;
}

nlohmann::json PluginMetrics::to_json() const {
    Snapshot s = snapshot();
    return {{"counters", s.counters}, {"gauges", s.gauges}};
}

} // namespace tierd
