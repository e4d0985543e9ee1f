// fusion-replay's host: loads one fusion plugin .so the way the agent does (dlopen, the
// entry symbol, ABI negotiation, the declared config keys with their defaults and the
// caller's overrides checked against their type and range, create/destroy) and serves it
// a services table that logs to stderr and keeps counters and gauges in memory.
// Single-threaded: the tool calls the plugin from its one thread.
#pragma once

#include <tierd/plugin.h>

#include <map>
#include <stdexcept>
#include <string>

namespace fusion_replay {

struct ReplayError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class PluginHost {
  public:
    // Loads `path` and creates an instance with the declared defaults, then `overrides`
    // (key -> value as written in TOML, strings without quotes). Throws ReplayError with a
    // message naming the file or key.
    PluginHost(const std::string &path, const std::map<std::string, std::string> &overrides);
    ~PluginHost();
    PluginHost(const PluginHost &) = delete;
    PluginHost &operator=(const PluginHost &) = delete;

    const tierd_plugin_descriptor &descriptor() const { return *descriptor_; }
    const tierd_fusion_ops &fusion() const;
    void *instance() const { return instance_; }

    // What the plugin reported through the services (its last set_error(), its metrics).
    const std::string &last_error() const;
    const std::map<std::string, double> &counters() const;
    const std::map<std::string, double> &gauges() const;

  private:
    void *library_ = nullptr;
    const tierd_plugin_descriptor *descriptor_ = nullptr;
    void *instance_ = nullptr;
    struct State;
    State *state_ = nullptr;
};

} // namespace fusion_replay
