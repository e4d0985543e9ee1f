#include "agent/core/agent.hpp"

#include "agent/core/logging.hpp"
#include "agent/core/status.hpp"
#include "agent/core/test_hooks.hpp" // test-only commands (TIERD_TEST_HOOKS=1)
#include "common/topics.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>

namespace tierd {

using topics::DeviceLeaf;

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

} // namespace

Agent::Agent(Config config, ConfigSource source, PluginPlan plugins,
             std::shared_ptr<ModelStore> models)
    : config_(&loop_, std::move(config), std::move(source)), model_store_(std::move(models)) {
    uv_loop_init(&loop_);
    spdlog::set_level(spdlog_level(this->config().agent.log_level));
    // The HAL is built before the loop runs (a missing profile fails start-up clearly)
    // and read only on workers from then on.
    auto hal = std::make_shared<hal::Hal>(options().hal);
    hal_sampler_ = std::make_unique<HalSampler>(&loop_, hal, options().telemetry_interval_ms);
    hal_sampler_->on_sample = [this](const nlohmann::json &sample) { publish_telemetry(sample); };
    plugin_bridge_ = std::make_shared<PluginBridge>(
        &loop_, options().identity.device_id, hal,
        [this](const std::string &topic, const std::string &payload, int qos, bool retain) {
            if (mqtt_ && !shutting_down_)
                mqtt_->publish(topic, payload, qos, retain);
        });
    plugins_ = std::make_unique<PluginSet>(&loop_, plugin_bridge_);
    plugins_->on_changed = [this] { plugins_changed(); };
    config_.set_hooks(
        {[this] { return plugins_->preparer(); },
         [this](ConfigChange &change) { apply_change(change); },
         [this](PluginSetChange &change) { plugins_->retire(std::move(change.created)); },
         [this] { return plugins_->secret_keys(); }});
    config_.refresh_view(plugins_->running());
    device_profile_ = hal->profile();
    peers_ = std::make_unique<PeerDirectory>(options().identity.device_id);
    profiles_ = std::make_unique<ProfileBook>(options().identity.device_id);
    register_commands();
    config_.register_commands(commands_);
    plugins_->register_commands(commands_, config_);
    register_scheduling_commands();
    register_model_commands();
    register_sample_commands();
    register_test_hooks(commands_); // test-only, off unless TIERD_TEST_HOOKS=1
    load_saved_profile();
    open_outbox();
    initial_plugins_ = std::move(plugins);
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
    retired_servers_.clear();
    plugins_.reset();
    plugin_bridge_.reset();
    router_.reset();
    mqtt_.reset();
    retired_links_.clear();
    hal_sampler_.reset();
    loop_lag_.reset();
    outbox_.reset();
    uv_loop_close(&loop_);
}

// ---- MQTT ------------------------------------------------------------------------

void Agent::open_outbox() {
    const auto &c = config().spool;
    SpoolOptions o;
    if (c.storage == SpoolStorage::file)
        o.path = !c.path.empty()                     ? c.path
                 : !config().agent.state_dir.empty() ? config().agent.state_dir + "/spool.db"
                                                     : std::string();
    if (c.storage == SpoolStorage::file && o.path.empty())
        spdlog::info("spool: in memory (no agent.state_dir or spool.path): results held while "
                     "the broker is away are lost if the agent stops");
    o.max_bytes = c.max_bytes;
    o.segment_bytes = c.segment_bytes;
    o.max_age_ms = c.max_age_s * 1000;
    o.when_full = c.when_full;
    o.sync = c.sync;
    // A file that cannot be used now is kept and tried again; results are held in memory
    // meanwhile and the status says why (Outbox).
    outbox_ = std::make_unique<Outbox>(
        &loop_, std::move(o), c.window,
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

nlohmann::json Agent::spool_status() const {
    return outbox_->status();
}

void Agent::start_mqtt(std::unique_ptr<MqttLink> link) {
    mqtt_ = link ? std::move(link) : std::make_unique<MqttLink>(&loop_, options().mqtt);
    // Retained status is republished on every (re)connect: the broker may have
    // published our will while we were away.
    mqtt_->on_connected = [this] {
        publish_status(true);
        publish_profile();
        outbox_->connected(mqtt_->broker_receive_maximum());
    };
    mqtt_->on_published = [this](int mid, int reason) {
        // Not stop_link() here: this runs inside mosquitto_loop_read, which holds the
        // client's locks that the DISCONNECT flush in stop() takes again (a deadlock).
        // The timer fires on the loop's next turn instead.
        if (link_stop_pending_ && mid == offline_status_mid_) {
            uv_timer_start(
                &offline_ack_timer_,
                [](uv_timer_t *t) { static_cast<Agent *>(t->data)->stop_link(); }, 0, 0);
            return;
        }
        outbox_->acknowledged(mid, reason);
    };
    mqtt_->on_subscribed = [this] {
        subscribed_ = true;
        arm_pipeline_start(kStatusSettleMs);
    };
    mqtt_->on_message = [this](const MqttLink::Message &m) { router_->route(m); };
    build_routes();
    mqtt_->start();
}

void Agent::build_routes() {
    const std::string &id = options().identity.device_id;
    router_ = std::make_unique<TopicRouter>(id);
    TopicRouter &r = *router_;
    auto command = [this](const MqttLink::Message &m, const topics::Topic &) { on_command(m); };
    // Commands: the device's own, the fleet's and each group's (docs/mqtt.md).
    r.add("cmd", topics::device_topic(id, DeviceLeaf::cmd), r.own(DeviceLeaf::cmd), command);
    r.add("fleet", std::string(topics::kFleetCommand),
          TopicRouter::kind(topics::TopicKind::fleet_command), command);
    for (const auto &group : options().groups)
        r.add("group/" + group, topics::group_command_topic(group), TopicRouter::group(group),
              command);
    // The input topic: from the connect on for source.kind = "topic" (messages that
    // arrive during the start-up plugin load are held up to the pipeline's bound); for a
    // third-party source once it is known to take messages (update_work).
    if (config().source.kind == SourceKind::topic || (pipeline_ && pipeline_->takes_messages()))
        add_input_route();
    if (options().identity.role == "end") {
        // Offload (docs/mqtt.md): an end agent hears its replies, which agents are online
        // and the tiers' model profiles.
        r.add("offload/reply", topics::device_topic(id, DeviceLeaf::offload_reply),
              r.own(DeviceLeaf::offload_reply),
              [this](const MqttLink::Message &m, const topics::Topic &) {
                  if (pipeline_)
                      pipeline_->on_offload_reply(m.payload);
              });
        r.add("peers/status", std::string(topics::kEveryStatusFilter),
              TopicRouter::every_device(DeviceLeaf::status),
              [this](const MqttLink::Message &m, const topics::Topic &t) {
                  if (peers_->on_status(t.name, m.payload) && pipeline_)
                      pipeline_->probe_now(); // estimates for the scheduler's next task
                  profiles_->set_online(peers_->online());
              });
        r.add("peers/profile", std::string(topics::kEveryProfileFilter),
              TopicRouter::every_device(DeviceLeaf::profile),
              [this](const MqttLink::Message &m, const topics::Topic &t) {
                  const std::string device(t.name);
                  if (std::string why = profiles_->on_message(device, m.payload); !why.empty())
                      spdlog::warn("profile from {} ignored: {}", device, why);
              });
    }
    router_->attach(mqtt_.get());
    // An edge or cloud agent subscribes to its tier's requests once it can serve them.
    update_offload_serving();
}

void Agent::add_input_route() {
    const std::string &id = options().identity.device_id;
    router_->add(
        "input", topics::device_topic(id, DeviceLeaf::input), router_->own(DeviceLeaf::input),
        [this](const MqttLink::Message &m, const topics::Topic &) {
            if (pipeline_)
                return pipeline_->push(m.payload);
            if (early_inputs_.size() < Pipeline::max_waiting_inputs(config().workers.queue_limit))
                early_inputs_.push_back(m.payload);
            else
                ++early_inputs_dropped_;
        });
}

int Agent::publish_status(bool online) {
    int mid = -1;
    int rc = mqtt_->publish(topics::device_topic(options().identity.device_id, DeviceLeaf::status),
                            status_payload(options().identity, online, plugins_->status_json()), 1,
                            true, {}, {}, &mid);
    if (rc != MOSQ_ERR_SUCCESS) {
        spdlog::warn("mqtt: status publish failed: {}", mosquitto_strerror(rc));
        return -1;
    }
    return mid;
}

void Agent::on_command(const MqttLink::Message &message) {
    // MQTT 5 consoles name a response topic; 3.1.1 consoles read the device's reply topic.
    std::string topic = message.response_topic.empty()
                            ? topics::device_topic(options().identity.device_id, DeviceLeaf::reply)
                            : message.response_topic;
    commands_.handle(
        message.payload, options().identity.device_id,
        [this, topic, correlation = message.correlation_data](const nlohmann::json &r) {
            int rc = mqtt_->publish(topic, wire_json(r), 1, false, correlation);
            if (rc != MOSQ_ERR_SUCCESS)
                spdlog::warn("mqtt: reply to {} failed: {}", topic, mosquitto_strerror(rc));
        });
}

void Agent::register_commands() {
    commands_.add("ping", [](const nlohmann::json &) { return nlohmann::json{{"pong", true}}; });
    commands_.add("status", [this](const nlohmann::json &) {
        auto doc = nlohmann::json::parse(
            status_payload(options().identity, true, plugins_->status_json()));
        doc["uptime_s"] = static_cast<double>(uv_now(&loop_) - started_ms_) / 1000.0;
        doc["config"] = config_.source().file.empty() ? "<default>" : config_.source().file;
        if (pipeline_)
            doc["tasks"] = pipeline_->stats();
        if (offload_server_) {
            doc["offload"] = offload_server_->stats();
            doc["offload"]["subscribed"] = offload_subscribed();
        }
        doc["profiles"] = profiles_->summary();
        doc["spool"] = spool_status();
        if (loop_lag_)
            doc["loop_lag"] = loop_lag_->to_json();
        return doc;
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

void Agent::publish_telemetry(const nlohmann::json &sample) {
    const bool durable = config().telemetry.durable;
    if (!durable && (!mqtt_ || !mqtt_->connected()))
        return; // QoS 0 telemetry is periodic: the next sample follows
    nlohmann::json doc = sample;
    doc["v"] = 1;
    doc["device_id"] = options().identity.device_id;
    doc["role"] = options().identity.role;
    doc["uptime_s"] = static_cast<double>(uv_now(&loop_) - started_ms_) / 1000.0;
    // Each plugin's counters and gauges (services->counter_add / gauge_set).
    nlohmann::json plugin_metrics = nlohmann::json::object();
    for (const auto &p : plugins_->running())
        plugin_metrics[p.name()] = p.instance->metrics().to_json();
    doc["plugins"] = std::move(plugin_metrics);
    if (pipeline_)
        doc["tasks"] = pipeline_->stats();
    if (offload_server_) {
        doc["offload"] = offload_server_->stats();
        doc["offload"]["subscribed"] = offload_subscribed();
    }
    doc["spool"] = spool_status();
    if (loop_lag_)
        doc["loop_lag"] = loop_lag_->take_period().to_json();
    const auto topic = topics::device_topic(options().identity.device_id, DeviceLeaf::telemetry);
    if (durable) // within the spool's bound whatever when_full says (EntryClass::telemetry)
        outbox_->put(topic, wire_json(doc), EntryClass::telemetry);
    else
        mqtt_->publish(topic, wire_json(doc), 0, false);
}

// ---- Config changes ----------------------------------------------------------------

void Agent::apply_change(ConfigChange &change) {
    const bool new_session = needs_new_mqtt_session(options(), change.options);
    std::unique_ptr<MqttLink> link;
    if (new_session) {
        // Build the new link first: if libmosquitto refuses the new TLS or credentials,
        // this throws and the running config and session stay as they were.
        link = std::make_unique<MqttLink>(&loop_, change.options.mqtt);
        // The old identity goes offline explicitly: a clean disconnect sends no will.
        if (mqtt_->connected() && change.options.identity.device_id != options().identity.device_id)
            publish_status(false);
        mqtt_->stop([] {});
        retired_links_.push_back(std::move(mqtt_));
    }
    if (change.new_hal)
        plugin_bridge_->set_hal(change.new_hal);
    config_.commit(std::move(change.config), std::move(change.options));
    spdlog::set_level(spdlog_level(config().agent.log_level));
    hal_sampler_->reconfigure(std::move(change.new_hal), options().telemetry_interval_ms);
    plugin_bridge_->set_device_id(options().identity.device_id);
    if (new_session) {
        peers_ = std::make_unique<PeerDirectory>(options().identity.device_id);
        start_mqtt(std::move(link));
    }
    plugins_->install(std::move(change.plugins));
}

void Agent::plugins_changed() {
    config_.refresh_view(plugins_->running());
    if (!plugins_->loading())
        update_work();
    if (mqtt_ && mqtt_->connected())
        publish_status(true);
}

// ---- Lifecycle ---------------------------------------------------------------------

void Agent::stop_link_after_offline_status() {
    if (offline_status_mid_ < 0 || !mqtt_->connected())
        return stop_link();
    link_stop_pending_ = true;
    uv_timer_init(&loop_, &offline_ack_timer_);
    offline_ack_timer_.data = this;
    uv_timer_start(
        &offline_ack_timer_, [](uv_timer_t *t) { static_cast<Agent *>(t->data)->stop_link(); },
        1000, 0);
}

void Agent::stop_link() {
    if (link_stopped_)
        return;
    link_stopped_ = true;
    if (link_stop_pending_) {
        link_stop_pending_ = false;
        uv_close(reinterpret_cast<uv_handle_t *>(&offline_ack_timer_), nullptr);
    }
    mqtt_->stop([] {});
    // Results that finish during the drain are still stored; they go out after a restart.
    outbox_->stop();
}

int Agent::run() {
    started_ms_ = uv_now(&loop_);
    loop_lag_ = std::make_unique<LoopLag>(&loop_);
    loop_lag_->start();
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
    spdlog::info("tierd {} running as {} (config: {})", options().identity.device_id,
                 options().identity.role,
                 config_.source().file.empty() ? "<default>" : config_.source().file);
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
        self->config_.reload([](const std::optional<CommandError> &error) {
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

void Agent::shutdown() {
    if (shutting_down_)
        return;
    shutting_down_ = true;
    config_.shutting_down();
    sd_notify(0, "STOPPING=1");
    // A clean stop says "offline" itself: the broker sends the will only on failure.
    if (mqtt_->connected())
        offline_status_mid_ = publish_status(false);
    for (auto *h : {&sigterm_, &sigint_, &sighup_})
        uv_close(reinterpret_cast<uv_handle_t *>(h), nullptr);
    hal_sampler_->stop();
    if (loop_lag_)
        loop_lag_->stop();
    // The pipeline takes no new tasks; those in flight finish within the drain.
    if (pipeline_)
        pipeline_->stop([] {});
    // Plugins stop and are destroyed on a worker once no task holds them; the drain
    // deadline below bounds it.
    plugins_->retire_all();
    plugin_bridge_->close();
    if (watchdog_running_)
        uv_close(reinterpret_cast<uv_handle_t *>(&watchdog_), nullptr);
    if (pipeline_start_timer_)
        uv_close(reinterpret_cast<uv_handle_t *>(&pipeline_start_), nullptr);
    pipeline_waiting_ = false;
    // The offload server answers the requests that wait at once and lets the running
    // batches finish; their replies go out before MQTT stops. Work already on the pool
    // (a HAL read, a config change) finishes before uv_run returns: that is the drain.
    // It is bounded: past agent.drain_timeout_ms the process exits without waiting
    // (workers may still hold agent state, so nothing is freed).
    stop_offload_server([this] { stop_link_after_offline_status(); });
    uv_timer_init(&loop_, &drain_deadline_);
    drain_deadline_.data = this;
    uv_timer_start(
        &drain_deadline_,
        [](uv_timer_t *t) {
            spdlog::warn("drain timed out; exiting with work still running");
            // What was put in the spool reaches the disk before the process ends.
            static_cast<Agent *>(t->data)->outbox_->flush(std::chrono::milliseconds(2000));
            spdlog::default_logger()->flush();
            std::_Exit(0);
        },
        static_cast<uint64_t>(config().agent.drain_timeout_ms), 0);
    // The deadline must not keep the loop alive once everything else has finished.
    uv_unref(reinterpret_cast<uv_handle_t *>(&drain_deadline_));
}

} // namespace tierd
