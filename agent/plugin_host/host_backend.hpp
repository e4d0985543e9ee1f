// What a plugin instance needs from the agent beyond the plugin host itself: MQTT, the
// event loop, the HAL. The agent implements it; tests implement a recording fake.
#pragma once

#include <functional>
#include <string>

#include <tierd/plugin.h>

namespace tierd {

class HostBackend {
  public:
    virtual ~HostBackend() = default;

    // Publish on tierd/v1/dev/<device-id>/plugin/<plugin-name>/<subtopic>. Any thread;
    // must only queue (delivery happens on the loop). Returns a TIERD_E* code.
    virtual int publish(const std::string &subtopic_under_plugin, std::string payload, int qos,
                        bool retain) = 0;

    // Run `fn` on the loop thread soon. Any thread. TIERD_EBUSY when shutting down (fn is
    // then never run).
    virtual int post(std::function<void()> fn) = 0;

    // The HAL's view of `section` as JSON text into `out`. Worker threads only.
    virtual int hal_json(const std::string &section, std::string &out) = 0;

    // Fill `out` (its struct_size is set to the host's size). Worker threads only.
    virtual int energy_read(tierd_energy_reading &out) = 0;

    virtual std::string device_id() = 0;
};

} // namespace tierd
