// The running agent: the wiring of one libuv loop's components — the MQTT link and the
// topic router that hands each message to its component, the config service, the plugin
// set, the durable outbox, HAL sampling, and the work the role does (the end's pipeline,
// the edge's and cloud's offload server) — plus signals, the systemd watchdog and the
// drain at shutdown. Every member function runs on the loop thread; blocking work goes
// to libuv's worker pool.
#pragma once

#include "agent/core/commands.hpp"
#include "agent/core/config_service.hpp"
#include "agent/core/hal_sampler.hpp"
#include "agent/core/mqtt_link.hpp"
#include "agent/core/peer_directory.hpp"
#include "agent/core/plugin_set.hpp"
#include "agent/core/profile_book.hpp"
#include "agent/core/topic_router.hpp"
#include "agent/loop/loop_lag.hpp"
#include "agent/models/model_store.hpp"
#include "agent/pipeline/offload_server.hpp"
#include "agent/pipeline/pipeline.hpp"
#include "agent/spool/outbox.hpp"

#include <uv.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tierd {

class Agent {
  public:
    // Throws std::runtime_error when start-up fails (HAL profile, MQTT TLS setup).
    // `plugins`: the plan main() made of `config`'s plugins; start-up instantiates it
    // instead of opening every plugin again.
    // `models`: the model store main() opened and recovered (docs/models.md); none
    // without agent.state_dir, and then models.* commands are refused.
    Agent(Config config, ConfigSource source, PluginPlan plugins,
          std::shared_ptr<ModelStore> models = nullptr);
    ~Agent();
    Agent(const Agent &) = delete;
    Agent &operator=(const Agent &) = delete;
    // Runs the loop until SIGTERM/SIGINT; returns the process exit code.
    int run();

  private:
    const AgentOptions &options() const { return config_.options(); }
    const Config &config() const { return config_.config(); }

    // MQTT (agent.cpp). Starts `link`, or a new one made from the options when null.
    void start_mqtt(std::unique_ptr<MqttLink> link = nullptr);
    // The routes this identity and role listen on (commands, input, offload replies,
    // peers' statuses and profiles); the offload server's own route follows serving.
    void build_routes();
    // Subscribes the device's input topic for a source that takes messages.
    void add_input_route();
    // Returns the message id of the publish (for its PUBACK), or -1 when it did not go out.
    int publish_status(bool online);
    // Shutdown's last MQTT step: stops the link once the broker has acknowledged the
    // "offline" status (or after a bound). libmosquitto closes the socket as soon as it
    // has written DISCONNECT; a PUBACK still on its way then resets the connection, and
    // the broker drops what it had not read yet — the status among it.
    void stop_link_after_offline_status();
    void stop_link();
    void on_command(const MqttLink::Message &message);
    void publish_telemetry(const nlohmann::json &sample);
    void register_commands();
    void open_outbox();
    nlohmann::json spool_status() const;

    // Config changes (agent.cpp): the hooks the config service calls.
    void apply_change(ConfigChange &change);
    void plugins_changed();

    // The role's work (agent_work.cpp): the end's pipeline when [source] names one, and
    // the offload server of an edge or cloud agent, subscribed only while it can serve.
    void load_plugins_at_start();
    void update_work();
    void start_pipeline();
    void arm_pipeline_start(uint64_t delay_ms);
    void update_offload_serving();
    // Whether this agent is subscribed to its tier's offload requests now.
    bool offload_subscribed() const;
    void stop_offload_server(std::function<void()> done);

    // Multi-objective scheduling (agent_scheduling.cpp): the `profile` and `policy.set`
    // commands, the saved profile, and publishing it for the other tiers.
    void register_scheduling_commands();
    // Model updates (model_commands.cpp, docs/models.md): models.update / list / activate
    // / rollback / unpin, and the activation with its held-back check.
    void register_model_commands();
    void register_sample_commands();
    struct ModelActivation;
    void activate_model(std::shared_ptr<ModelActivation> a);
    void finish_activation(std::shared_ptr<ModelActivation> a);
    void load_saved_profile();
    void publish_profile();
    std::string profile_path() const;

    static void on_signal(uv_signal_t *handle, int signum);
    void start_watchdog();
    void shutdown();

    uv_loop_t loop_{};
    ConfigService config_;
    CommandTable commands_;
    std::unique_ptr<MqttLink> mqtt_;
    // Links replaced by a config change, kept until the loop ends: their handles close
    // asynchronously.
    std::vector<std::unique_ptr<MqttLink>> retired_links_;
    std::unique_ptr<TopicRouter> router_;
    std::unique_ptr<Outbox> outbox_;
    std::unique_ptr<HalSampler> hal_sampler_;
    std::shared_ptr<PluginBridge> plugin_bridge_;
    std::unique_ptr<PluginSet> plugins_;
    std::optional<PluginPlan> initial_plugins_; // used once, by load_plugins_at_start()
    std::unique_ptr<PeerDirectory> peers_;
    std::unique_ptr<ProfileBook> profiles_;
    hal::DeviceProfile device_profile_; // the HAL's, for the scheduler's power figures
    std::unique_ptr<LoopLag> loop_lag_;

    std::unique_ptr<Pipeline> pipeline_;
    // Input messages that arrive while the start-up plugin load runs (the pipeline does
    // not exist yet; the input subscription already does). They are handed to the
    // pipeline when it is made; beyond its bound (Pipeline::max_waiting_inputs) they are
    // counted as dropped, never silently lost.
    std::vector<std::string> early_inputs_;
    std::uint64_t early_inputs_dropped_ = 0;
    std::unique_ptr<OffloadServer> offload_server_; // roles edge and cloud
    // What the offload server keeps of the images it answered ([offload] keep_answered).
    std::shared_ptr<AnsweredSamples> answered_samples_ = std::make_shared<AnsweredSamples>();
    // The latest images answered upstream with their teacher labels ([models] teacher_images):
    // the model update's teacher check.
    std::shared_ptr<AnsweredSamples> teacher_samples_ = std::make_shared<AnsweredSamples>();
    // Servers replaced (a role change) that still finish their running batches.
    std::vector<std::unique_ptr<OffloadServer>> retired_servers_;

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
    // How long the source waits for the retained statuses once the broker has acknowledged
    // the subscriptions (they arrive right behind the acknowledgement), and at most when
    // the broker does not answer (the pipeline then runs locally until tiers appear).
    static constexpr uint64_t kStatusSettleMs = 100;
    static constexpr uint64_t kStartWithoutBrokerMs = 3000;
    bool watchdog_running_ = false;
    bool shutting_down_ = false;
    int offline_status_mid_ = -1; // the "offline" status publish at shutdown
    bool link_stop_pending_ = false;
    bool link_stopped_ = false;
    uv_timer_t offline_ack_timer_{};
    bool profiling_ = false; // a `profile` command is running
    // <agent.state_dir>/models, opened by main() (none without a state_dir). Used on
    // workers one job at a time: model_busy_ (loop) says one is running.
    std::shared_ptr<ModelStore> model_store_;
    bool model_busy_ = false;
    uint64_t started_ms_ = 0;
};

} // namespace tierd
