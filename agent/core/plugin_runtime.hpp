// The agent's running plugins: which instances exist, which plugins were refused and why,
// and the bridge that lets plugin code (on any thread) reach the loop, MQTT and the HAL.
//
// Threads: PluginBridge is shared by every instance and is thread-safe. The functions
// named "worker" below dlopen and call into plugins (create/stop/destroy may block), so
// they run on libuv's pool; everything else runs on the loop thread.
#pragma once

#include "agent/plugin_host/host_backend.hpp"
#include "agent/plugin_host/plugin_instance.hpp"
#include "agent/plugin_host/plugin_plan.hpp"
#include "hal/hal.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tierd {

// What plugins may ask of the agent from any thread. Publishes and posted functions are
// queued and run on the loop (uv_async); HAL reads go straight to the (thread-safe) HAL.
class PluginBridge {
  public:
    // Loop thread. `deliver` publishes one plugin message (topic, payload, qos, retain).
    using Deliver = std::function<void(const std::string &, const std::string &, int, bool)>;
    PluginBridge(uv_loop_t *loop, std::string device_id, std::shared_ptr<hal::Hal> hal,
                 Deliver deliver);
    ~PluginBridge();

    // Loop thread: stop accepting work (post/publish answer TIERD_EBUSY) and close the
    // async handle; queued work is dropped.
    void close();
    // Loop thread: a new HAL after a config change.
    void set_hal(std::shared_ptr<hal::Hal> hal);
    void set_device_id(std::string device_id);

    // Any thread.
    int queue_publish(std::string topic, std::string payload, int qos, bool retain);
    int queue_post(std::function<void()> fn);
    std::shared_ptr<hal::Hal> hal();
    std::string device_id();

  private:
    static void on_async(uv_async_t *handle);
    void drain(); // loop thread

    uv_loop_t *loop_;
    uv_async_t async_{};
    Deliver deliver_;
    std::mutex mutex_;
    bool open_ = true;
    std::string device_id_;
    std::shared_ptr<hal::Hal> hal_;
    std::deque<std::function<void()>> queue_;
};

// One instance's view of the bridge: HostBackend with the plugin's own topic subtree.
class PluginBackend : public HostBackend {
  public:
    PluginBackend(std::shared_ptr<PluginBridge> bridge, std::string plugin_name);
    // Closes the gate: waits for a posted function of this plugin that is running on the
    // loop, and drops the ones still queued. Called before the instance is stopped, so
    // no plugin code runs from the loop once stop() begins (and none after dlclose).
    void close();
    int publish(const std::string &subtopic, std::string payload, int qos, bool retain) override;
    int post(std::function<void()> fn) override;
    int hal_json(const std::string &section, std::string &out) override;
    int energy_read(tierd_energy_reading &out) override;
    std::string device_id() override;

  private:
    // Shared with the functions this plugin posted: they run only while it is open.
    struct Gate {
        std::mutex mutex;
        bool open = true;
    };
    std::shared_ptr<PluginBridge> bridge_;
    std::string plugin_name_;
    std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
};

// A created, started instance. Shared: a task in flight on a worker holds the instance
// too, so unloading never pulls it from under a running op. The last holder's release
// closes the backend's gate (no posted function runs from then on), then stops and
// destroys the instance; the backend lives until then. Release it on a worker: stop()
// and destroy() may block.
struct RunningPlugin {
    std::shared_ptr<PluginInstance> instance;
    std::string slot; // the [plugins] key it fills
    std::string path;
    PluginConfigValues values;

    const std::string &name() const { return instance->descriptor().name; }
    // {"name","kind","version","abi","path","description","instance","config","metrics"}
    nlohmann::json to_json() const;
};

// What the loop tells a worker about a running plugin, so an unchanged one is kept.
struct RunningSummary {
    std::string name;
    std::string path;
    PluginConfigValues values;
};

// The plugin set a config asks for, prepared on a worker.
struct PluginSetChange {
    std::vector<RunningPlugin> created; // new instances, started
    std::vector<std::string> kept;      // names of running instances that stay as they are
    std::vector<PluginRefusal> refused; // plugins that could not be loaded or started
    ConfigErrors errors;                // invalid [plugin.<name>] tables: refuse the config
};

// Worker. Plans `config`'s plugins and creates those not already running with the same
// file and values. `strict` (a config change while running): the first plugin that
// cannot be loaded or started fails the whole change — every instance made here is
// destroyed again, and the reason is in `refused`. Not strict (start-up): refused plugins
// are reported and the rest run.
PluginSetChange prepare_plugin_set(const Config &config, const std::vector<RunningSummary> &running,
                                   const std::shared_ptr<PluginBridge> &bridge, bool strict,
                                   unsigned &next_index);
// The same from a plan already made (start-up: main() planned the plugins to check the
// config, so the libraries are not opened twice).
PluginSetChange instantiate_plugin_set(PluginPlan plan, const std::vector<RunningSummary> &running,
                                       const std::shared_ptr<PluginBridge> &bridge, bool strict,
                                       unsigned &next_index);

// Worker. Finds, opens, checks and starts one plugin (plugins.load).
struct SingleLoad {
    std::optional<RunningPlugin> plugin;
    std::optional<PluginRefusal> refusal;
    bool slot_taken = false; // the refusal is that its kind's slot is filled
    ConfigErrors errors;
};
// `taken`: kinds whose slot is filled; such a plugin is refused before it is created.
SingleLoad load_one_plugin(const Config &config, const std::string &name,
                           const std::vector<tierd_plugin_kind> &taken,
                           const std::shared_ptr<PluginBridge> &bridge, unsigned index);

} // namespace tierd
