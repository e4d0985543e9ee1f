// The agent's running plugins — one per slot (source, scheduler, preclassifier,
// inference, fusion) — the ones refused and why, and the plugins.list / plugins.load /
// plugins.unload commands (docs/mqtt.md). Plugin calls that may block (dlopen, create,
// start, stop, destroy) run on libuv's pool; the set itself changes on the loop.
//
// Threads: loop thread only.
#pragma once

#include "agent/core/commands.hpp"
#include "agent/core/config_service.hpp"
#include "agent/core/plugin_runtime.hpp"
#include "agent/pipeline/task.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tierd {

class PluginSet {
  public:
    PluginSet(uv_loop_t *loop, std::shared_ptr<PluginBridge> bridge);

    // Start-up: creates and starts `plan`'s plugins on a worker, then installs them;
    // `done` runs on the loop afterwards (not when `cancelled()` says the agent stops).
    void load_at_start(PluginPlan plan, std::function<bool()> cancelled,
                       std::function<void()> done);
    // The start-up load has not finished.
    bool loading() const { return loading_; }

    // The plugins a new task uses.
    PipelinePlugins current() const;
    const std::vector<RunningPlugin> &running() const { return plugins_; }
    const std::vector<PluginRefusal> &refused() const { return refused_; }
    // Why the plugin for `slot` ("source", ...) was refused; "" when it was not.
    std::string refusal(const std::string &slot) const;

    // Loop: what a config change's worker calls to make the plugin set a config asks for
    // (all or nothing: the first plugin that cannot start fails the whole change).
    std::function<PluginSetChange(const Config &)> preparer();
    // Replaces the running set with `change` (kept ones stay); the rest are retired.
    void install(PluginSetChange change);
    // Stops and destroys `plugins` on a worker (their calls may block).
    void retire(std::vector<RunningPlugin> plugins);
    // Drops a reference on a worker: when it is the last, stop() and destroy() run there.
    void release(std::shared_ptr<PluginInstance> instance);
    // Shutdown: every plugin retired.
    void retire_all();
    // The SECRET keys the running plugins declare.
    std::vector<std::string> secret_keys() const;

    // {"loaded": [{"name","kind","version"}], "refused": [...], "loading"?: true}
    nlohmann::json status_json() const;
    // plugins.list, plugins.load, plugins.unload. `config` names what is configured and
    // takes turns with config changes.
    void register_commands(CommandTable &commands, ConfigService &config);

    // Called on the loop after the running set changed (start-up, a change, a command).
    std::function<void()> on_changed;

  private:
    void queue(std::function<void()> on_worker, std::function<void()> on_loop);

    uv_loop_t *loop_;
    std::shared_ptr<PluginBridge> bridge_;
    std::vector<RunningPlugin> plugins_;         // running instances, slot order
    std::vector<PluginRefusal> refused_;         // the latest refusals, with reasons
    std::shared_ptr<unsigned> next_index_ = std::make_shared<unsigned>(0); // "<plugin>.<n>"
    bool loading_ = false;
};

} // namespace tierd
