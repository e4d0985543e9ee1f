// The agent's configuration while it runs: the validated Config, where it came from, what
// the agent derives from it (AgentOptions), get-config's redacted view, and the one way it
// changes — a change is read (reload) and prepared on a worker (HAL, plugins), then applied
// on the loop whole, or refused whole with the running config left as it was. One change
// at a time: config changes, plugin loads and unloads and the start-up plugin load take
// turns (begin()/end()).
//
// Commands: get-config, set-config, reload (docs/mqtt.md).
//
// Threads: loop thread, except the preparation, which runs on libuv's pool.
#pragma once

#include "agent/config/config.hpp"
#include "agent/core/agent_options.hpp"
#include "agent/core/commands.hpp"
#include "agent/core/plugin_runtime.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tierd {

// Where the config came from, so SIGHUP and the reload command can read it again.
struct ConfigSource {
    std::string file; // "" = the built-in default
    std::vector<std::string> overrides;
};

// A config change as the worker prepared it and the loop applies it.
struct ConfigChange {
    Config config;
    AgentOptions options;
    std::shared_ptr<hal::Hal> new_hal; // set when the HAL options changed
    PluginSetChange plugins;           // the plugin set the new config asks for
};

class ConfigService {
  public:
    // Called on the loop with the outcome of a change: nullopt = applied.
    using Done = std::function<void(const std::optional<CommandError> &)>;
    // What a change needs from the rest of the agent.
    struct Hooks {
        // Loop, when a change is queued: returns what the worker calls to make the plugin
        // set a config asks for (it captures the running set as it is now).
        std::function<std::function<PluginSetChange(const Config &)>()> plugin_preparer;
        // Loop: applies a prepared change (HAL, MQTT session, plugins). Throws
        // std::exception to refuse it, having changed nothing.
        std::function<void(ConfigChange &)> apply;
        // Loop: throws away the new plugins of a change that is not applied.
        std::function<void(PluginSetChange &)> discard;
        // Loop: the SECRET keys of the running plugins (a reloaded file that holds them
        // and that others may read is warned about).
        std::function<std::vector<std::string>()> running_secret_keys;
    };

    ConfigService(uv_loop_t *loop, Config config, ConfigSource source);
    void set_hooks(Hooks hooks) { hooks_ = std::move(hooks); }

    const Config &config() const { return config_; }
    // For the few changes made in place (plugins.load/unload name the plugin in [plugins]).
    Config &config() { return config_; }
    const ConfigSource &source() const { return source_; }
    // Sets (a TOML value) or removes (nullopt) a lasting override KEY=VALUE of the config
    // source, applied after the file by every later reload and SIGHUP as a --set is (the
    // model store's manifest: docs/models.md). The running config is not changed by it.
    void set_override(const std::string &key, const std::optional<std::string> &toml_value);
    const AgentOptions &options() const { return options_; }
    // Takes the applied change's config and options (Hooks::apply calls it).
    void commit(Config config, AgentOptions options);

    // get-config's view and the log filter's secrets, from the config and the running
    // plugins' declarations (a plugin key flagged SECRET is never shown or logged).
    void refresh_view(const std::vector<RunningPlugin> &plugins);
    const nlohmann::json &view() const { return options_.config_view; }

    // One change at a time: false (and `why`) while another runs or the agent stops.
    bool begin(std::string &why);
    void end() { changing_ = false; }
    bool changing() const { return changing_; }
    void shutting_down() { shutting_down_ = true; }
    bool is_shutting_down() const { return shutting_down_; }

    // Reads the config source again on a worker, then applies it or refuses it whole.
    void reload(Done done);
    // Prepares `next` (already validated) on a worker, then applies it whole.
    // `before_apply` runs on the loop just before (a reply that must leave first).
    void change_to(Config next, Done done, std::function<void()> before_apply = {});

    void register_commands(CommandTable &commands);

  private:
    struct Job;
    void queue(std::unique_ptr<Job> job);

    uv_loop_t *loop_;
    Config config_;
    ConfigSource source_;
    AgentOptions options_;
    Hooks hooks_;
    bool changing_ = false;
    bool shutting_down_ = false;
};

// A command error for invalid config: the errors, one per line.
CommandError config_error(const ConfigErrors &errors);

} // namespace tierd
