// A HostBackend for tests: records publishes, runs posted work when asked, and answers
// the HAL with fixed values.
#pragma once

#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "agent/plugin_host/host_backend.hpp"

namespace tierd::test {

class RecordingBackend : public HostBackend {
  public:
    struct Publish {
        std::string subtopic;
        std::string payload;
        int qos = 0;
        bool retain = false;
    };

    int publish(const std::string &subtopic, std::string payload, int qos, bool retain) override {
        std::lock_guard lock(mutex_);
        publishes_.push_back({subtopic, std::move(payload), qos, retain});
        return TIERD_OK;
    }

    int post(std::function<void()> fn) override {
        std::lock_guard lock(mutex_);
        if (shutting_down)
            return TIERD_EBUSY;
        posted_.push_back(std::move(fn));
        return TIERD_OK;
    }

    int hal_json(const std::string &section, std::string &out) override {
        if (section != "cpu")
            return TIERD_ENOENT;
        out = R"({"cpu":{"cores":4}})";
        return TIERD_OK;
    }

    int energy_read(tierd_energy_reading &out) override {
        out.energy_j = 12.5;
        out.power_w = 3.0;
        std::snprintf(out.source, sizeof out.source, "measured:test-sensor");
        return TIERD_OK;
    }

    std::string device_id() override { return "dev-test"; }

    std::vector<Publish> publishes() const {
        std::lock_guard lock(mutex_);
        return publishes_;
    }

    // Runs what was posted so far, as the loop thread would.
    int run_posted() {
        std::vector<std::function<void()>> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(posted_);
        }
        for (auto &fn : batch)
            fn();
        return static_cast<int>(batch.size());
    }

    bool shutting_down = false;

  private:
    mutable std::mutex mutex_;
    std::vector<Publish> publishes_;
    std::vector<std::function<void()>> posted_;
};

} // namespace tierd::test
