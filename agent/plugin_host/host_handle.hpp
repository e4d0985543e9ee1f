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

    // Set before the first call: the plugin's worker ops may run concurrently
    // (descriptor max_concurrent_calls > 1, ABI 1.3), so each calling thread has its own
    // error slot instead of the instance's one.
    bool per_thread_errors = false;

    // The error slot: set_error() fills it from any thread; the host clears it before a
    // call into the plugin and takes it after one that failed.
    void set_error(std::string message) {
        if (per_thread_errors) {
            thread_error().owner = this;
            thread_error().message = std::move(message);
            return;
        }
        std::lock_guard lock(error_mutex_);
        last_error_ = std::move(message);
    }
    std::string take_error() {
        if (per_thread_errors) {
            ThreadError &slot = thread_error();
            std::string out = slot.owner == this ? std::move(slot.message) : std::string();
            slot.owner = nullptr;
            slot.message.clear();
            return out;
        }
        std::lock_guard lock(error_mutex_);
        std::string out = std::move(last_error_);
        last_error_.clear();
        return out;
    }

  private:
    // One per thread: the error a concurrent plugin set during the op this thread runs.
    struct ThreadError {
        const tierd_host *owner = nullptr;
        std::string message;
    };
    static ThreadError &thread_error() {
        static thread_local ThreadError slot;
        return slot;
    }

    std::mutex error_mutex_;
    std::string last_error_;
};
