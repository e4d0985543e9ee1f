// The Agent's plugin side: loading the configured plugins at start-up, the running set,
// and the plugins.list / plugins.load / plugins.unload commands (docs/mqtt.md).
#include "agent/config/config_json.hpp"
#include "agent/core/agent.hpp"
#include "agent/core/logging.hpp"
#include "agent/loop/loop_work.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace tierd {
namespace {

// Offload inference jobs at once on an edge/cloud agent: half the worker pool (main.cpp
// sizes it to workers.threads, or one per core), leaving the rest for the pipeline,
// telemetry and plugin jobs. Requests that wait meanwhile are batched.
int serving_jobs(int threads) {
    const int pool =
        threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    return std::max(1, pool / 2);
}

} // namespace

namespace {

std::size_t slot_rank(const std::string &slot) {
    const auto &slots = plugin_slots();
    for (std::size_t i = 0; i < slots.size(); ++i)
        if (slot == slots[i].key)
            return i;
    return slots.size();
}

std::string required_name(const nlohmann::json &args) {
    auto it = args.find("name");
    if (it == args.end() || !it->is_string() || it->get<std::string>().empty())
        throw CommandError{"invalid_args",
                           "\"name\" must be a non-empty string: the plugin's name"};
    return it->get<std::string>();
}

} // namespace

void Agent::queue_plugin_job(std::unique_ptr<PluginJob> job) {
    queue_loop_work(&loop_, std::move(job->on_worker), std::move(job->on_loop), "plugin work");
}

void Agent::load_plugins_at_start() {
    // Config changes wait until the start-up load is done: both replace the plugin set.
    config_change_running_ = true;
    plugins_loading_ = true;
    auto change = std::make_shared<PluginSetChange>();
    auto job = std::make_unique<PluginJob>();
    auto plan = std::make_shared<PluginPlan>(std::move(*initial_plugins_));
    initial_plugins_.reset();
    job->on_worker = [this, change, plan] {
        *change =
            instantiate_plugin_set(std::move(*plan), {}, plugin_bridge_, false, next_plugin_index_);
    };
    job->on_loop = [this, change] {
        config_change_running_ = false;
        plugins_loading_ = false;
        if (shutting_down_) {
            retire_plugins(std::move(change->created));
            return;
        }
        install_plugins(std::move(*change));
        start_pipeline();
        std::string status = "STATUS=running, " + std::to_string(plugins_.size()) +
                             " plugin(s) loaded, " + std::to_string(refused_plugins_.size()) +
                             " refused";
        sd_notify(0, ("READY=1\n" + status).c_str());
    };
    queue_plugin_job(std::move(job));
}

std::vector<RunningSummary> Agent::running_summary() const {
    std::vector<RunningSummary> out;
    for (const auto &p : plugins_)
        out.push_back({p.name(), p.path, p.values});
    return out;
}

PipelinePlugins Agent::current_plugins() const {
    PipelinePlugins out;
    for (const auto &p : plugins_) {
        switch (p.instance->kind()) {
        case TIERD_KIND_SCHEDULER: out.scheduler = p.instance; break;
        case TIERD_KIND_PRECLASSIFIER: out.preclassifier = p.instance; break;
        case TIERD_KIND_INFERENCE: out.inference = p.instance; break;
        case TIERD_KIND_FUSION: out.fusion = p.instance; break;
        case TIERD_KIND_SOURCE: out.source = p.instance; break;
        }
    }
    return out;
}

void Agent::start_pipeline() {
    auto release = [this](std::shared_ptr<PluginInstance> instance) {
        auto job = std::make_unique<PluginJob>();
        job->on_worker = [instance]() mutable { instance.reset(); };
        queue_plugin_job(std::move(job));
    };
    if (config_.agent.role != Role::end && !offload_server_) {
        offload_server_ = std::make_unique<OffloadServer>(
            &loop_, options_.identity.device_id,
            OffloadServer::Limits{config_.offload.max_in_flight, config_.offload.batch_max,
                                  serving_jobs(config_.workers.threads),
                                  config_.pipeline.emulate_slowdown},
            [this] { return current_plugins().inference; },
            [this](const std::string &topic, const std::string &payload,
                   const std::string &correlation) {
                if (mqtt_)
                    mqtt_->publish(topic, payload, 1, false, correlation);
            },
            release);
    }
    if (config_.source.kind == SourceKind::none || pipeline_)
        return;
    PipelineOptions o;
    o.source = config_.source;
    o.results = config_.results;
    o.max_in_flight = config_.workers.queue_limit;
    o.overflow = config_.workers.overflow;
    o.offload_timeout_ms = static_cast<int>(config_.offload.timeout_ms);
    o.local_first = config_.pipeline.local_first;
    o.emulate_slowdown = config_.pipeline.emulate_slowdown;
    o.probe_interval_ms = static_cast<int>(config_.offload.probe_interval_ms);
    o.workers = serving_jobs(config_.workers.threads) * 2;
    o.max_batch = static_cast<std::size_t>(std::max(1, config_.offload.batch_max));
    // The HAL profile's figures stand for this device's compute power (no sensor reads
    // power per task); the scheduler is told where the number comes from.
    if (device_profile_.active_power_w > device_profile_.idle_power_w) {
        o.compute_power_w = device_profile_.active_power_w - device_profile_.idle_power_w;
        o.power_source = "estimated:" + device_profile_.name;
    }
    o.device_id = options_.identity.device_id;
    o.local_tier = config_.agent.role == Role::end    ? TIERD_TIER_END
                   : config_.agent.role == Role::edge ? TIERD_TIER_EDGE
                                                      : TIERD_TIER_CLOUD;
    // The source plugin ([source] kind), or why it is not running: the pipeline reports a
    // refused source as failed and serves nothing.
    auto source = current_plugins().source;
    std::string source_failure;
    if (!source)
        for (const auto &r : refused_plugins_)
            if (r.slot == "source")
                source_failure = r.reason;
    pipeline_ = std::make_unique<Pipeline>(
        &loop_, std::move(o), [this] { return current_plugins(); },
        // Every result goes through the durable spool, also during the drain at shutdown.
        [this](const std::string &payload) {
            outbox_->put(device_topic(options_.identity.device_id, "results"), payload);
        },
        release, std::move(source), std::move(source_failure));
    pipeline_->set_upstream(
        Upstream{[this](tierd_tier tier) { return tier_online(tier); },
         [this](tierd_tier tier, const std::string &payload, const std::string &correlation) {
             if (!mqtt_ || !mqtt_->connected() || shutting_down_)
                 return false;
             const char *role = tier == TIERD_TIER_CLOUD ? "cloud" : "edge";
             return mqtt_->publish(std::string("tierd/v1/offload/") + role + "/req", payload, 1,
                                   false, correlation,
                                   device_topic(options_.identity.device_id, "offload/reply")) ==
                    MOSQ_ERR_SUCCESS;
         },
         [this] { return profiles_->combined(); },
         [this](const std::string &device, const std::string &model, double ms) {
             profiles_->observe(device, model, ms);
         }});
    // [spool] when_full = "block": no new task while the spool is over its bound.
    if (config_.spool.when_full == SpoolWhenFull::block)
        pipeline_->set_admission([this] { return outbox_->has_room(); });
    for (auto &payload : early_inputs_)
        pipeline_->push(std::move(payload));
    early_inputs_.clear();
    early_inputs_.shrink_to_fit();
    pipeline_->count_dropped(std::exchange(early_inputs_dropped_, 0));
    pipeline_->start_probing();
    pipeline_waiting_ = true;
    arm_pipeline_start(subscribed_ ? kStatusSettleMs : kStartWithoutBrokerMs);
}

void Agent::arm_pipeline_start(uint64_t delay_ms) {
    if (!pipeline_waiting_ || shutting_down_)
        return;
    if (!pipeline_start_timer_) {
        uv_timer_init(&loop_, &pipeline_start_);
        pipeline_start_.data = this;
        pipeline_start_timer_ = true;
    }
    uv_timer_start(
        &pipeline_start_,
        [](uv_timer_t *t) {
            auto *self = static_cast<Agent *>(t->data);
            if (!self->pipeline_waiting_ || self->shutting_down_ || !self->pipeline_)
                return;
            self->pipeline_waiting_ = false;
            self->pipeline_->start();
        },
        delay_ms, 0);
}

void Agent::retire_plugins(std::vector<RunningPlugin> plugins) {
    if (plugins.empty())
        return;
    auto doomed = std::make_shared<std::vector<RunningPlugin>>(std::move(plugins));
    auto job = std::make_unique<PluginJob>();
    job->on_worker = [doomed] { doomed->clear(); }; // stop() and destroy() may block
    queue_plugin_job(std::move(job));
}

void Agent::install_plugins(PluginSetChange change) {
    std::vector<RunningPlugin> keep, retire;
    for (auto &p : plugins_) {
        bool kept =
            std::find(change.kept.begin(), change.kept.end(), p.name()) != change.kept.end();
        (kept ? keep : retire).push_back(std::move(p));
    }
    for (auto &p : change.created) {
        spdlog::info("plugin {} {} loaded as {} from {}", p.name(),
                     p.instance->descriptor().version, p.slot, p.path);
        keep.push_back(std::move(p));
    }
    std::stable_sort(keep.begin(), keep.end(), [](const RunningPlugin &a, const RunningPlugin &b) {
        return slot_rank(a.slot) < slot_rank(b.slot);
    });
    for (const auto &r : change.refused)
        spdlog::error("plugin refused: {}", r.to_string());
    for (const auto &p : retire)
        spdlog::info("plugin {} unloaded", p.name());
    plugins_ = std::move(keep);
    refused_plugins_ = std::move(change.refused);
    retire_plugins(std::move(retire));
    refresh_config_view();
    if (mqtt_ && mqtt_->connected())
        publish_status(true);
}

void Agent::refresh_config_view() {
    nlohmann::json view = to_json(config_);
    std::vector<std::string> secrets = secret_values(config_);
    auto &tables = view["plugin"];
    for (const auto &p : plugins_) {
        // Every key the plugin declares, at its resolved value; secrets redacted.
        tables[p.name()] = p.values.redacted_json();
        for (const auto &[key, entry] : p.values.entries)
            if (entry.secret && std::holds_alternative<std::string>(entry.value) &&
                !std::get<std::string>(entry.value).empty())
                secrets.push_back(std::get<std::string>(entry.value));
    }
    // A table of a plugin that is not running: which of its keys are secret is unknown
    // here, so no value is shown.
    for (auto &[name, table] : tables.items()) {
        bool running = std::any_of(plugins_.begin(), plugins_.end(),
                                   [&n = name](const RunningPlugin &p) { return p.name() == n; });
        if (!running && table.is_object())
            for (auto &[key, value] : table.items())
                value = "<not shown: plugin not running>";
    }
    options_.config_view = std::move(view);
    set_log_secrets(std::move(secrets));
}

nlohmann::json Agent::plugins_status() const {
    nlohmann::json loaded = nlohmann::json::array(), refused = nlohmann::json::array();
    for (const auto &p : plugins_)
        loaded.push_back({{"name", p.name()},
                          {"kind", plugin_kind_name(p.instance->kind())},
                          {"version", p.instance->descriptor().version}});
    for (const auto &r : refused_plugins_)
        refused.push_back(r.to_json());
    nlohmann::json doc = {{"loaded", loaded}, {"refused", refused}};
    if (plugins_loading_)
        doc["loading"] = true;
    return doc;
}

void Agent::register_plugin_commands() {
    commands_.add("plugins.list", [this](const nlohmann::json &) {
        nlohmann::json loaded = nlohmann::json::array(), refused = nlohmann::json::array();
        for (const auto &p : plugins_)
            loaded.push_back(p.to_json());
        for (const auto &r : refused_plugins_)
            refused.push_back(r.to_json());
        return nlohmann::json{{"loaded", loaded},
                              {"refused", refused},
                              {"loading", plugins_loading_},
                              {"search_path", plugin_search_path(config_.plugins)}};
    });

    commands_.add_async(
        "plugins.load", [this](const nlohmann::json &args, CommandTable::Reply reply) {
            std::string name = required_name(args);
            for (const auto &p : plugins_)
                if (p.name() == name)
                    throw CommandError{"already_loaded", "plugin " + name + " is already loaded"};
            if (config_change_running_ || shutting_down_)
                throw CommandError{"busy", shutting_down_
                                               ? "the agent is shutting down"
                                               : "another config or plugin change is running"};
            config_change_running_ = true;
            auto result = std::make_shared<SingleLoad>();
            auto job = std::make_unique<PluginJob>();
            unsigned index = next_plugin_index_++;
            // Plugin changes are serialized, so the slots filled now are those at the end.
            std::vector<tierd_plugin_kind> taken;
            for (const auto &p : plugins_)
                taken.push_back(p.instance->kind());
            job->on_worker = [this, result, name, taken, index] {
                *result = load_one_plugin(config_, name, taken, plugin_bridge_, index);
            };
            job->on_loop = [this, result, name, reply] {
                config_change_running_ = false;
                if (!result->errors.empty())
                    return reply.fail({"config_invalid", to_string(result->errors)});
                if (result->slot_taken) {
                    std::string busy;
                    for (const auto &q : plugins_)
                        if (slot_for(q.instance->kind()).key == result->refusal->slot)
                            busy = q.name();
                    return reply.fail({"slot_taken", "a " + result->refusal->slot +
                                                         " plugin is loaded (" + busy +
                                                         "); unload it first"});
                }
                if (!result->plugin) {
                    spdlog::error("plugin refused: {}", result->refusal->to_string());
                    return reply.fail({"plugin_refused", result->refusal->to_string()});
                }
                RunningPlugin &p = *result->plugin;
                tierd_plugin_kind kind = p.instance->kind();
                if (shutting_down_) {
                    std::vector<RunningPlugin> undo;
                    undo.push_back(std::move(p));
                    retire_plugins(std::move(undo));
                    return reply.fail({"busy", "the agent is shutting down"});
                }
                // The running config now names it, so get-config and later changes agree.
                set_configured_plugin(config_, kind, name);
                refresh_config_view();
                nlohmann::json info = p.to_json();
                PluginSetChange change;
                for (const auto &q : plugins_)
                    change.kept.push_back(q.name());
                change.created.push_back(std::move(p));
                for (auto &r : refused_plugins_)
                    if (r.name != name)
                        change.refused.push_back(r);
                install_plugins(std::move(change));
                reply.ok(info);
            };
            queue_plugin_job(std::move(job));
        });

    commands_.add_async(
        "plugins.unload", [this](const nlohmann::json &args, CommandTable::Reply reply) {
            std::string name = required_name(args);
            auto it = std::find_if(plugins_.begin(), plugins_.end(),
                                   [&](const RunningPlugin &p) { return p.name() == name; });
            if (it == plugins_.end())
                throw CommandError{"not_loaded", "no loaded plugin is named " + name};
            if (it->instance->kind() == TIERD_KIND_SOURCE)
                throw CommandError{"invalid_args",
                                   "a source plugin follows the [source] table and is not "
                                   "unloaded on its own"};
            if (config_change_running_ || shutting_down_)
                throw CommandError{"busy", shutting_down_
                                               ? "the agent is shutting down"
                                               : "another config or plugin change is running"};
            config_change_running_ = true;
            auto doomed = std::make_shared<RunningPlugin>(std::move(*it));
            plugins_.erase(it);
            set_configured_plugin(config_, doomed->instance->kind(), "");
            refresh_config_view();
            spdlog::info("plugin {} unloading", name);
            auto job = std::make_unique<PluginJob>();
            // The reply waits until stop() and destroy() have returned.
            job->on_worker = [doomed] { doomed->instance.reset(); };
            job->on_loop = [this, name, reply] {
                config_change_running_ = false;
                spdlog::info("plugin {} unloaded", name);
                if (mqtt_ && mqtt_->connected())
                    publish_status(true);
                reply.ok({{"unloaded", name}});
            };
            queue_plugin_job(std::move(job));
        });
}

} // namespace tierd
