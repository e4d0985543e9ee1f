// The running agent: one libuv loop that owns all state — the config, the MQTT link,
// commands, HAL sampling, signals and the systemd watchdog. Every member function runs
// on the loop thread; blocking work (file reads, HAL) goes to libuv's worker pool.
#pragma once

#include "agent/config/config.hpp"
#include "agent/core/agent_options.hpp"
#include "agent/core/commands.hpp"
#include "agent/core/hal_sampler.hpp"
#include "agent/core/mqtt_link.hpp"
#include "agent/core/plugin_runtime.hpp"
#include "agent/core/profile_book.hpp"
#include "agent/pipeline/offload_server.hpp"
#include "agent/pipeline/pipeline.hpp"
#include "agent/spool/outbox.hpp"

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace tierd {

// Where the config came from, so SIGHUP and the reload command can read it again.
struct ConfigSource {
    std::string file; // "" = the built-in default
    std::vector<std::string> overrides;
};

class Agent {
  public:
    // Throws std::runtime_error when start-up fails (HAL profile, MQTT TLS setup).
    // `plugins`: the plan main() made of `config`'s plugins; start-up instantiates it
    // instead of opening every plugin again.
    Agent(Config config, ConfigSource source, PluginPlan plugins);
    ~Agent();
    // Runs the loop until SIGTERM/SIGINT; returns the process exit code.
    int run();

  private:
    struct ConfigJob;
    // Plugin work for a worker (dlopen, create, stop, destroy may block) and what to do
    // on the loop afterwards. Owned by its uv_work_t's data from queueing to the
    // after-callback.
    struct PluginJob {
        std::function<void()> on_worker;
        std::function<void()> on_loop;
    };
    // Called on the loop with the outcome of a config change: nullopt = applied.
    using ChangeDone = std::function<void(const std::optional<CommandError> &)>;

    static void on_signal(uv_signal_t *handle, int signum);
    void start_watchdog();
    // Starts `link`, or a new one made from options_ when null.
    void start_mqtt(std::unique_ptr<MqttLink> link = nullptr);
    void publish_status(bool online);
    void register_commands();
    // Routes a message: commands, offload requests (edge/cloud), offload replies and
    // other agents' status (end).
    void on_message(const MqttLink::Message &message);
    void on_command(const MqttLink::Message &message);
    void track_status(const MqttLink::Message &message);
    bool tier_online(tierd_tier tier) const;
    void publish_telemetry(const nlohmann::json &sample);
    // The durable spool results (and durable telemetry) go through (agent/spool).
    void open_spool();
    nlohmann::json spool_status() const;
    // Reads the config source again on a worker, then applies it or refuses it whole.
    void reload(ChangeDone done);
    // Prepares `next` on a worker (HAL), then applies it whole.
    void change_to(Config next, ChangeDone done, std::function<void()> before_apply = {});
    void queue_config_job(std::unique_ptr<ConfigJob> job);
    void apply(Config next, AgentOptions options, std::shared_ptr<hal::Hal> new_hal);
    void shutdown();

    // Plugins (plugin_runtime.hpp). Start-up loads the configured ones on a worker and
    // sends READY=1 when done; refused plugins are reported and the agent serves on.
    void load_plugins_at_start();
    std::vector<RunningSummary> running_summary() const;
    // Stop and destroy `plugins` on a worker (their calls may block).
    void retire_plugins(std::vector<RunningPlugin> plugins);
    // Replaces the running set with `change` (kept ones stay), logs and republishes status.
    void install_plugins(PluginSetChange change);
    void register_plugin_commands();
    // Multi-objective scheduling (agent_scheduling.cpp): the `profile` and `policy.set`
    // commands, the saved profile, and publishing it for the other tiers.
    void register_scheduling_commands();
    void load_saved_profile();
    void publish_profile();
    std::string profile_path() const;
    nlohmann::json plugins_status() const;
    // get-config's view and the log filter's secrets, from config_ and the running
    // plugins' declarations (a plugin key flagged SECRET is never shown or logged).
    void refresh_config_view();
    void queue_plugin_job(std::unique_ptr<PluginJob> job);
    // The task pipeline, when [source] names one: started once the plugins are loaded.
    void start_pipeline();
    PipelinePlugins current_plugins() const;

    Config config_;
    ConfigSource source_;
    AgentOptions options_;
    uv_loop_t loop_{};
    std::unique_ptr<MqttLink> mqtt_;
    std::unique_ptr<Outbox> outbox_;
    std::string spool_error_; // why the configured spool could not be used ("" = it is)
    // Links replaced by a config change, kept until the loop ends: their handles close
    // asynchronously.
    std::vector<std::unique_ptr<MqttLink>> retired_links_;
    std::unique_ptr<HalSampler> hal_sampler_;
    std::shared_ptr<PluginBridge> plugin_bridge_;
    std::vector<RunningPlugin> plugins_;         // running instances, slot order
    std::vector<PluginRefusal> refused_plugins_; // the latest refusals, with reasons
    unsigned next_plugin_index_ = 0;             // instance names: "<plugin>.<n>"
    bool plugins_loading_ = false;               // the start-up load has not finished
    std::unique_ptr<Pipeline> pipeline_;
    // source.kind = "topic": input messages that arrive while the start-up plugin load
    // runs (the pipeline does not exist yet; the input subscription already does). They are
    // handed to the pipeline when it is made; beyond its bound
    // (Pipeline::max_waiting_inputs) they are counted as dropped, never silently lost.
    std::vector<std::string> early_inputs_;
    uint64_t early_inputs_dropped_ = 0;
    std::optional<PluginPlan> initial_plugins_;     // used once, by load_plugins_at_start()
    std::unique_ptr<OffloadServer> offload_server_; // roles edge and cloud
    // Other agents' retained status: device id -> role, for those online now.
    std::map<std::string, std::string> online_agents_;
    uv_signal_t sigterm_{};
    uv_signal_t sigint_{};
    uv_signal_t sighup_{};
    uv_timer_t watchdog_{};
    uv_timer_t drain_deadline_{};
    // The end's source starts once the agent has heard which tiers are online (the
    // retained statuses that follow its subscriptions), or after a bound if the broker
    // is slow or away: otherwise the first tasks would miss an edge that is there.
    uv_timer_t pipeline_start_{};
    bool pipeline_start_timer_ = false;
    bool pipeline_waiting_ = false;
    bool subscribed_ = false;
    void arm_pipeline_start(uint64_t delay_ms);
    // How long the source waits for the retained statuses once the broker has acknowledged
    // the subscriptions (they arrive right behind the acknowledgement), and at most when
    // the broker does not answer (the pipeline then runs locally until tiers appear).
    static constexpr uint64_t kStatusSettleMs = 100;
    static constexpr uint64_t kStartWithoutBrokerMs = 3000;
    bool watchdog_running_ = false;
    bool shutting_down_ = false;
    bool config_change_running_ = false;
    CommandTable commands_;
    std::unique_ptr<ProfileBook> profiles_;
    hal::DeviceProfile device_profile_; // the HAL's, for the scheduler's power figures
    bool profiling_ = false;            // a `profile` command is running
    uint64_t started_ms_ = 0;
};

} // namespace tierd
