// The concrete type behind the ABI's opaque `struct tierd_host`: what the host knows
// about the instance that calls a service (its name, its backend, its metrics, its
// last error).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include <tierd/plugin.h>

#include "agent/plugin_host/host_backend.hpp"
#include "agent/plugin_host/plugin_metrics.hpp"

// Global namespace: it completes the C header's incomplete type.
struct tierd_host {
    tierd_host(std::string instance, std::string plugin, tierd::HostBackend &host_backend)
        : instance_name(std::move(instance)), plugin_name(std::move(plugin)),
          backend(host_backend) {}

    const std::string instance_name; // "<plugin-name>.<n>", the log prefix
    const std::string plugin_name;
    tierd::HostBackend &backend;
    tierd::PluginMetrics metrics;

    // The error slot: set_error() fills it from any thread; the host clears it before a
    // call into the plugin and takes it after one that failed.
    void set_error(std::string message) {
        std::lock_guard lock(error_mutex_);
        last_error_ = std::move(message);
    }
    std::string take_error() {
        std::lock_guard lock(error_mutex_);
        std::string out = std::move(last_error_);
        last_error_.clear();
        return out;
    }

  private:
    std::mutex error_mutex_;
    std::string last_error_;
};
