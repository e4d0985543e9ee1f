#include "agent/core/agent.hpp"

#include "agent/config/config_changes.hpp"
#include "agent/config/config_json.hpp"
#include "agent/config/config_loader.hpp"
#include "agent/config/default_config.hpp"
#include "agent/config/secret_file_check.hpp"
#include "agent/core/logging.hpp"
#include "agent/core/status.hpp"
#include "agent/core/test_hooks.hpp" // test-only commands (TIERD_TEST_HOOKS=1)

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace tierd {

namespace {

spdlog::level::level_enum spdlog_level(LogLevel level) {
    switch (level) {
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warning: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

CommandError config_error(const ConfigErrors &errors) {
    std::string message = to_string(errors);
    if (!message.empty() && message.back() == '\n')
        message.pop_back();
    return {"config_invalid", message};
}

} // namespace

// A config change in flight: read (for reload) and prepared on a worker, applied on the
// loop. Owned by its uv_work_t's data from queueing to the after-callback.
struct Agent::ConfigJob {
    uv_work_t work{};
    Agent *agent = nullptr;
    // Inputs
    std::optional<ConfigSource> reload_from; // set: read the source again first
    std::optional<Config> config;            // set: the new config, already validated
    hal::HalOptions current_hal;
    ChangeDone done;
    std::function<void()> before_apply;
    // Outputs
    std::optional<CommandError> error;
    AgentOptions options;
    std::shared_ptr<hal::Hal> new_hal; // set when the HAL options changed
    // Plugins: the running set as it was when queued, and the one the new config asks for.
    std::vector<RunningSummary> running_plugins;
    std::shared_ptr<PluginBridge> bridge;
    unsigned next_plugin_index = 0;
    PluginSetChange plugins;
};

Agent::Agent(Config config, ConfigSource source, PluginPlan plugins)
    : config_(std::move(config)), source_(std::move(source)),
      options_(derive_agent_options(config_)) {
    uv_loop_init(&loop_);
    refresh_config_view();
    spdlog::set_level(spdlog_level(config_.agent.log_level));
    // The HAL is built before the loop runs (a missing profile fails start-up clearly)
    // and read only on workers from then on.
    auto hal = std::make_shared<hal::Hal>(options_.hal);
    hal_sampler_ = std::make_unique<HalSampler>(&loop_, hal, options_.telemetry_interval_ms);
    hal_sampler_->on_sample = [this](const nlohmann::json &sample) { publish_telemetry(sample); };
    plugin_bridge_ = std::make_shared<PluginBridge>(
        &loop_, options_.identity.device_id, hal,
        [this](const std::string &topic, const std::string &payload, int qos, bool retain) {
            if (mqtt_ && !shutting_down_)
                mqtt_->publish(topic, payload, qos, retain);
        });
    device_profile_ = hal->profile();
    profiles_ = std::make_unique<ProfileBook>(options_.identity.device_id);
    register_commands();
    register_plugin_commands();
    register_scheduling_commands();
    register_test_hooks(commands_); // test-only, off unless TIERD_TEST_HOOKS=1
    load_saved_profile();
    open_spool();
    initial_plugins_ = std::move(plugins);
}

void Agent::open_spool() {
    const auto &c = config_.spool;
    SpoolOptions o;
    if (c.storage == SpoolStorage::file)
        o.path = !c.path.empty()                    ? c.path
                 : !config_.agent.state_dir.empty() ? config_.agent.state_dir + "/spool.db"
                                                    : std::string();
    if (c.storage == SpoolStorage::file && o.path.empty())
        spdlog::info("spool: in memory (no agent.state_dir or spool.path): results held while "
                     "the broker is away are lost if the agent stops");
    o.max_bytes = c.max_bytes;
    o.segment_bytes = c.segment_bytes;
    o.max_age_ms = c.max_age_s * 1000;
    o.when_full = c.when_full;
    o.sync = c.sync;
    std::unique_ptr<Spool> spool;
    try {
        spool = std::make_unique<Spool>(o);
    } catch (const std::exception &e) {
        // The agent keeps serving: results are held in memory and the status says why.
        spool_error_ = e.what();
        spdlog::error("spool: {}; holding results in memory instead", spool_error_);
        o.path.clear();
        spool = std::make_unique<Spool>(o);
    }
    outbox_ = std::make_unique<Outbox>(
        &loop_, std::move(spool), c.window,
        [this](const std::string &topic, const std::string &payload, int *mid) -> int {
            if (!mqtt_ || !mqtt_->connected() || shutting_down_)
                return MOSQ_ERR_NO_CONN;
            return mqtt_->publish(topic, payload, 1, false, {}, {}, mid);
        });
    outbox_->on_room = [this] {
        if (pipeline_)
            pipeline_->resume();
    };
}

Agent::~Agent() {
    // Members hold uv handles that were closed in shutdown(); the loop ran their close
    // callbacks before run() returned. Plugins were destroyed on a worker by then. A
    // handle still open here (the unreferenced drain deadline) is closed before the
    // members that hold them go, so that uv_loop_close() frees the loop.
    uv_walk(
        &loop_,
        [](uv_handle_t *h, void *) {
            if (!uv_is_closing(h))
                uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    pipeline_.reset();
    offload_server_.reset();
    plugins_.clear();
    plugin_bridge_.reset();
    mqtt_.reset();
    retired_links_.clear();
    hal_sampler_.reset();
    uv_loop_close(&loop_);
}

void Agent::start_mqtt(std::unique_ptr<MqttLink> link) {
    mqtt_ = link ? std::move(link) : std::make_unique<MqttLink>(&loop_, options_.mqtt);
    // Retained status is republished on every (re)connect: the broker may have
    // published our will while we were away.
    mqtt_->on_connected = [this] {
        publish_status(true);
        publish_profile();
        outbox_->connected();
    };
    mqtt_->on_published = [this](int mid, int reason) { outbox_->acknowledged(mid, reason); };
    mqtt_->on_subscribed = [this] {
        subscribed_ = true;
        arm_pipeline_start(kStatusSettleMs);
    };
    mqtt_->on_message = [this](const MqttLink::Message &m) { on_message(m); };
    // Device, fleet-wide and group command topics (docs/mqtt.md).
    mqtt_->subscribe(device_topic(options_.identity.device_id, "cmd"), 1);
    mqtt_->subscribe("tierd/v1/fleet/cmd", 1);
    for (const auto &group : options_.groups)
        mqtt_->subscribe("tierd/v1/group/" + group + "/cmd", 1);
    // Offload (docs/mqtt.md): an end agent hears replies and which agents are online;
    // edge and cloud agents share their tier's requests.
    if (config_.source.kind == SourceKind::topic)
        mqtt_->subscribe(device_topic(options_.identity.device_id, "input"), 1);
    if (options_.identity.role == "end") {
        mqtt_->subscribe(device_topic(options_.identity.device_id, "offload/reply"), 1);
        mqtt_->subscribe("tierd/v1/dev/+/status", 1);
        mqtt_->subscribe("tierd/v1/dev/+/profile", 1); // the tiers' model profiles
    } else {
        mqtt_->subscribe("$share/tierd-" + options_.identity.role + "/tierd/v1/offload/" +
                             options_.identity.role + "/req",
                         1);
    }
    mqtt_->start();
}

int Agent::run() {
    started_ms_ = uv_now(&loop_);
    struct {
        uv_signal_t *handle;
        int signum;
    } signals[] = {{&sigterm_, SIGTERM}, {&sigint_, SIGINT}, {&sighup_, SIGHUP}};
    for (auto &s : signals) {
        uv_signal_init(&loop_, s.handle);
        s.handle->data = this;
        uv_signal_start(s.handle, &Agent::on_signal, s.signum);
    }
    start_watchdog();
    hal_sampler_->start();
    start_mqtt();
    spdlog::info("tierd {} running as {} (config: {})", options_.identity.device_id,
                 options_.identity.role, source_.file.empty() ? "<default>" : source_.file);
    // READY=1 follows once the plugins are loaded (or refused).
    load_plugins_at_start();
    uv_run(&loop_, UV_RUN_DEFAULT);
    return 0;
}

// systemd's watchdog is pinged from a loop timer, so a stuck loop stops the pings and
// systemd restarts the agent.
void Agent::start_watchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    uv_timer_init(&loop_, &watchdog_);
    uint64_t period_ms = std::max<uint64_t>(usec / 2000, 1);
    uv_timer_start(
        &watchdog_, [](uv_timer_t *) { sd_notify(0, "WATCHDOG=1"); }, 0, period_ms);
    watchdog_running_ = true;
}

void Agent::on_signal(uv_signal_t *handle, int signum) {
    auto *self = static_cast<Agent *>(handle->data);
    if (signum == SIGHUP) {
        spdlog::info("received SIGHUP, reloading config");
        self->reload([](const std::optional<CommandError> &error) {
            if (error)
                spdlog::error("reload refused, the running config stays:\n{}", error->message);
            else
                spdlog::info("config reloaded");
        });
        return;
    }
    spdlog::info("received {}, shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    self->shutdown();
}

void Agent::publish_status(bool online) {
    int rc = mqtt_->publish(device_topic(options_.identity.device_id, "status"),
                            status_payload(options_.identity, online, plugins_status()), 1, true);
    if (rc != MOSQ_ERR_SUCCESS)
        spdlog::warn("mqtt: status publish failed: {}", mosquitto_strerror(rc));
}

void Agent::register_commands() {
    commands_.add("ping", [](const nlohmann::json &) { return nlohmann::json{{"pong", true}}; });
    commands_.add("status", [this](const nlohmann::json &) {
        auto doc = nlohmann::json::parse(status_payload(options_.identity, true, plugins_status()));
        doc["uptime_s"] = static_cast<double>(uv_now(&loop_) - started_ms_) / 1000.0;
        doc["config"] = source_.file.empty() ? "<default>" : source_.file;
        if (pipeline_)
            doc["tasks"] = pipeline_->stats();
        if (offload_server_)
            doc["offload"] = offload_server_->stats();
        doc["profiles"] = profiles_->summary();
        doc["spool"] = spool_status();
        return doc;
    });
    commands_.add("get-config", [this](const nlohmann::json &) { return options_.config_view; });
    commands_.add_async("set-config", [this](const nlohmann::json &args,
                                             CommandTable::Reply reply) {
        auto changes = args.find("changes");
        if (changes == args.end() || !changes->is_object() || changes->empty())
            throw CommandError{"invalid_args",
                               "\"changes\" must be a non-empty object of \"dotted.key\": value"};
        auto result = apply_changes(config_, *changes);
        if (!result.ok())
            throw config_error(result.errors);
        // The reply goes out before the change is applied: applying may replace the
        // MQTT session the request came in on.
        auto applied_keys = nlohmann::json::array();
        for (const auto &[key, value] : changes->items())
            applied_keys.push_back(key);
        change_to(
            std::move(*result.config),
            [reply](const std::optional<CommandError> &error) {
                if (error)
                    reply.fail(*error);
            },
            [reply, applied_keys] {
                reply.ok({{"applied", applied_keys}});
            });
    });
    commands_.add_async("reload", [this](const nlohmann::json &, CommandTable::Reply reply) {
        reload([this, reply](const std::optional<CommandError> &error) {
            if (error)
                return reply.fail(*error);
            reply.ok({{"config", source_.file.empty() ? "<default>" : source_.file}});
        });
    });
    commands_.add("hal", [this](const nlohmann::json &) {
        const auto &latest = hal_sampler_->latest();
        if (latest.is_null())
            throw CommandError{"not_ready", "the first HAL reading has not completed yet"};
        auto result = latest;
        result["age_ms"] = uv_now(&loop_) - latest["sampled_ms"].get<uint64_t>();
        return result;
    });
}

void Agent::on_message(const MqttLink::Message &message) {
    const std::string &topic = message.topic;
    const std::string &id = options_.identity.device_id;
    if (topic == device_topic(id, "offload/reply")) {
        if (pipeline_)
            pipeline_->on_offload_reply(message.payload);
        return;
    }
    if (topic == device_topic(id, "input")) {
        if (pipeline_)
            pipeline_->push(message.payload);
        else if (early_inputs_.size() < Pipeline::max_waiting_inputs(config_.workers.queue_limit))
            early_inputs_.push_back(message.payload);
        else
            ++early_inputs_dropped_;
        return;
    }
    if (topic.rfind("tierd/v1/offload/", 0) == 0) {
        if (offload_server_)
            offload_server_->handle(message.payload, message.response_topic,
                                    message.correlation_data);
        return;
    }
    if (topic.size() > 7 && topic.compare(topic.size() - 7, 7, "/status") == 0) {
        track_status(message);
        return;
    }
    if (topic.size() > 8 && topic.compare(topic.size() - 8, 8, "/profile") == 0 &&
        topic.rfind("tierd/v1/dev/", 0) == 0) {
        const std::string device = topic.substr(13, topic.size() - 13 - 8);
        if (std::string why = profiles_->on_message(device, message.payload); !why.empty())
            spdlog::warn("profile from {} ignored: {}", device, why);
        return;
    }
    on_command(message);
}

void Agent::track_status(const MqttLink::Message &message) {
    // An agent still in its start-up plugin load has no inference plugin or offload server
    // yet (requests sent to it would be lost and time out): read_peer_status does not call
    // it serving until the status it republishes after the load.
    auto peer = read_peer_status(message.payload);
    if (!peer || peer->device_id == options_.identity.device_id)
        return;
    // Only a device's own status topic speaks for it (the shipped ACL lets each device
    // write only its own topics): a document naming another device is ignored.
    if (message.topic != device_topic(peer->device_id, "status"))
        return;
    if (peer->serving) {
        const bool new_here = online_agents_.count(peer->device_id) == 0;
        online_agents_[peer->device_id] = peer->role;
        if (new_here && pipeline_)
            pipeline_->probe_now(); // link estimates for the scheduler before its next task
    } else {
        online_agents_.erase(peer->device_id);
    }
    profiles_->set_online(online_agents_);
}

bool Agent::tier_online(tierd_tier tier) const {
    const char *role = tier == TIERD_TIER_EDGE    ? "edge"
                       : tier == TIERD_TIER_CLOUD ? "cloud"
                                                  : "end";
    return std::any_of(online_agents_.begin(), online_agents_.end(),
                       [&](const auto &entry) { return entry.second == role; });
}

void Agent::on_command(const MqttLink::Message &message) {
    // MQTT 5 consoles name a response topic; 3.1.1 consoles read the device's reply topic.
    std::string topic = message.response_topic.empty()
                            ? device_topic(options_.identity.device_id, "reply")
                            : message.response_topic;
    commands_.handle(
        message.payload, options_.identity.device_id,
        [this, topic, correlation = message.correlation_data](const nlohmann::json &r) {
            int rc = mqtt_->publish(topic, wire_json(r), 1, false, correlation);
            if (rc != MOSQ_ERR_SUCCESS)
                spdlog::warn("mqtt: reply to {} failed: {}", topic, mosquitto_strerror(rc));
        });
}

nlohmann::json Agent::spool_status() const {
    auto j = outbox_->status();
    if (!spool_error_.empty())
        j["error"] = spool_error_;
    return j;
}

void Agent::publish_telemetry(const nlohmann::json &sample) {
    const bool durable = config_.telemetry.durable;
    if (!durable && (!mqtt_ || !mqtt_->connected()))
        return; // QoS 0 telemetry is periodic: the next sample follows
    nlohmann::json doc = sample;
    doc["v"] = 1;
    doc["device_id"] = options_.identity.device_id;
    doc["role"] = options_.identity.role;
    doc["uptime_s"] = static_cast<double>(uv_now(&loop_) - started_ms_) / 1000.0;
    // Each plugin's counters and gauges (services->counter_add / gauge_set).
    nlohmann::json plugin_metrics = nlohmann::json::object();
    for (const auto &p : plugins_)
        plugin_metrics[p.name()] = p.instance->metrics().to_json();
    doc["plugins"] = std::move(plugin_metrics);
    if (pipeline_)
        doc["tasks"] = pipeline_->stats();
    if (offload_server_)
        doc["offload"] = offload_server_->stats();
    doc["spool"] = spool_status();
    const auto topic = device_topic(options_.identity.device_id, "telemetry");
    if (durable)
        outbox_->put(topic, wire_json(doc));
    else
        mqtt_->publish(topic, wire_json(doc), 0, false);
}

void Agent::reload(ChangeDone done) {
    auto job = std::make_unique<ConfigJob>();
    job->reload_from = source_;
    job->done = std::move(done);
    queue_config_job(std::move(job));
}

void Agent::change_to(Config next, ChangeDone done, std::function<void()> before_apply) {
    auto job = std::make_unique<ConfigJob>();
    job->config = std::move(next);
    job->done = std::move(done);
    job->before_apply = std::move(before_apply);
    queue_config_job(std::move(job));
}

void Agent::queue_config_job(std::unique_ptr<ConfigJob> job) {
    // One change at a time, so two never race to replace the same parts.
    if (config_change_running_ || shutting_down_) {
        job->done(CommandError{"busy", shutting_down_ ? "the agent is shutting down"
                                                      : "another config change is running"});
        return;
    }
    config_change_running_ = true;
    job->agent = this;
    job->current_hal = options_.hal;
    job->running_plugins = running_summary();
    job->bridge = plugin_bridge_;
    job->next_plugin_index = next_plugin_index_;
    job->work.data = job.get();
    uv_queue_work(
        &loop_, &job.release()->work,
        [](uv_work_t *work) { // worker thread: file reads, HAL set-up
            auto *j = static_cast<ConfigJob *>(work->data);
            try {
                if (j->reload_from) {
                    auto loaded =
                        j->reload_from->file.empty()
                            ? load_default_config(j->reload_from->overrides)
                            : load_config_file(j->reload_from->file, j->reload_from->overrides);
                    if (!loaded.ok()) {
                        j->error = config_error(loaded.errors);
                        return;
                    }
                    j->config = std::move(*loaded.config);
                }
                j->options = derive_agent_options(*j->config);
                if (!same_hal_options(j->options.hal, j->current_hal))
                    j->new_hal = std::make_shared<hal::Hal>(j->options.hal);
                // All or nothing, plugins included: a plugin the new config cannot load
                // or start refuses the change, and the running ones stay.
                j->plugins = prepare_plugin_set(*j->config, j->running_plugins, j->bridge, true,
                                                j->next_plugin_index);
                if (!j->plugins.errors.empty()) {
                    j->error = config_error(j->plugins.errors);
                } else if (!j->plugins.refused.empty()) {
                    std::string why;
                    for (const auto &r : j->plugins.refused)
                        why += (why.empty() ? "" : "\n") + r.to_string();
                    j->error = CommandError{"plugin_refused", why};
                } else if (j->reload_from) {
                    // The file was read again: it may have gained secrets or lost its mode.
                    std::vector<std::string> keys;
                    for (const auto &p : j->plugins.created)
                        add_plugin_secret_keys(keys, p.values);
                    for (const auto &p : j->running_plugins)
                        add_plugin_secret_keys(keys, p.values);
                    if (auto warning = secret_file_warning(j->reload_from->file, keys))
                        spdlog::warn("{}", *warning);
                }
            } catch (const std::exception &e) {
                j->error = CommandError{"config_invalid", e.what()};
            }
        },
        [](uv_work_t *work, int) { // loop thread
            std::unique_ptr<ConfigJob> j(static_cast<ConfigJob *>(work->data));
            Agent *self = j->agent;
            self->config_change_running_ = false;
            self->next_plugin_index_ = j->next_plugin_index;
            if (!j->error && self->shutting_down_)
                j->error = CommandError{"busy", "the agent is shutting down"};
            if (j->error) {
                self->retire_plugins(std::move(j->plugins.created));
                j->done(j->error);
                return;
            }
            if (j->before_apply)
                j->before_apply();
            try {
                if (j->new_hal)
                    self->plugin_bridge_->set_hal(j->new_hal);
                self->apply(std::move(*j->config), std::move(j->options), std::move(j->new_hal));
            } catch (const std::exception &e) {
                self->retire_plugins(std::move(j->plugins.created));
                j->done(CommandError{"config_invalid", e.what()});
                return;
            }
            self->plugin_bridge_->set_device_id(self->options_.identity.device_id);
            self->install_plugins(std::move(j->plugins));
            j->done(std::nullopt);
        });
}

void Agent::apply(Config next, AgentOptions options, std::shared_ptr<hal::Hal> new_hal) {
    bool new_session = needs_new_mqtt_session(options_, options);
    std::unique_ptr<MqttLink> link;
    if (new_session) {
        // Build the new link first: if libmosquitto refuses the new TLS or credentials,
        // this throws and the running config and session stay as they were.
        link = std::make_unique<MqttLink>(&loop_, options.mqtt);
        // The old identity goes offline explicitly: a clean disconnect sends no will.
        if (mqtt_->connected() && options.identity.device_id != options_.identity.device_id)
            publish_status(false);
        mqtt_->stop([] {});
        retired_links_.push_back(std::move(mqtt_));
    }
    config_ = std::move(next);
    options_ = std::move(options);
    refresh_config_view();
    spdlog::set_level(spdlog_level(config_.agent.log_level));
    hal_sampler_->reconfigure(std::move(new_hal), options_.telemetry_interval_ms);
    if (new_session)
        start_mqtt(std::move(link));
}

void Agent::shutdown() {
    if (shutting_down_)
        return;
    shutting_down_ = true;
    sd_notify(0, "STOPPING=1");
    // A clean stop says "offline" itself: the broker sends the will only on failure.
    if (mqtt_->connected())
        publish_status(false);
    for (auto *h : {&sigterm_, &sigint_, &sighup_})
        uv_close(reinterpret_cast<uv_handle_t *>(h), nullptr);
    hal_sampler_->stop();
    // The pipeline takes no new tasks; those in flight finish within the drain.
    if (pipeline_)
        pipeline_->stop([] {});
    if (offload_server_)
        offload_server_->stop();
    // Plugins stop and are destroyed on a worker; the drain deadline below bounds it.
    retire_plugins(std::move(plugins_));
    plugins_.clear();
    plugin_bridge_->close();
    if (watchdog_running_)
        uv_close(reinterpret_cast<uv_handle_t *>(&watchdog_), nullptr);
    if (pipeline_start_timer_)
        uv_close(reinterpret_cast<uv_handle_t *>(&pipeline_start_), nullptr);
    pipeline_waiting_ = false;
    // Work already on the pool (a HAL read, a config change) finishes before uv_run
    // returns: that is the drain. It is bounded: past agent.drain_timeout_ms the process
    // exits without waiting (workers may still hold agent state, so nothing is freed).
    mqtt_->stop([] {});
    // Results that finish during the drain are still stored; they go out after a restart.
    outbox_->stop();
    uv_timer_init(&loop_, &drain_deadline_);
    uv_timer_start(
        &drain_deadline_,
        [](uv_timer_t *) {
            spdlog::warn("drain timed out; exiting with work still running");
            spdlog::default_logger()->flush();
            std::_Exit(0);
        },
        static_cast<uint64_t>(config_.agent.drain_timeout_ms), 0);
    // The deadline must not keep the loop alive once everything else has finished.
    uv_unref(reinterpret_cast<uv_handle_t *>(&drain_deadline_));
}

} // namespace tierd
