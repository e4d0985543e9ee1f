#include "agent/core/plugin_set.hpp"

#include "agent/config/secret_file_check.hpp"
#include "agent/loop/loop_work.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace tierd {
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

PluginSet::PluginSet(uv_loop_t *loop, std::shared_ptr<PluginBridge> bridge)
    : loop_(loop), bridge_(std::move(bridge)) {}

void PluginSet::queue(std::function<void()> on_worker, std::function<void()> on_loop) {
    queue_loop_work(loop_, std::move(on_worker), std::move(on_loop), "plugin work");
}

void PluginSet::load_at_start(PluginPlan plan, std::function<bool()> cancelled,
                              std::function<void()> done) {
    loading_ = true;
    auto change = std::make_shared<PluginSetChange>();
    auto shared_plan = std::make_shared<PluginPlan>(std::move(plan));
    queue(
        [change, shared_plan, bridge = bridge_, index = next_index_] {
            *change = instantiate_plugin_set(std::move(*shared_plan), {}, bridge, false, *index);
        },
        [this, change, cancelled = std::move(cancelled), done = std::move(done)] {
            loading_ = false;
            if (cancelled()) {
                retire(std::move(change->created));
                return;
            }
            install(std::move(*change));
            done();
        });
}

PipelinePlugins PluginSet::current() const {
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

std::string PluginSet::refusal(const std::string &slot) const {
    for (const auto &r : refused_)
        if (r.slot == slot)
            return r.reason;
    return "";
}

std::function<PluginSetChange(const Config &)> PluginSet::preparer() {
    std::vector<RunningSummary> running;
    for (const auto &p : plugins_)
        running.push_back({p.name(), p.path, p.values});
    return [running = std::move(running), bridge = bridge_, index = next_index_](const Config &c) {
        return prepare_plugin_set(c, running, bridge, true, *index);
    };
}

void PluginSet::retire(std::vector<RunningPlugin> plugins) {
    if (plugins.empty())
        return;
    auto doomed = std::make_shared<std::vector<RunningPlugin>>(std::move(plugins));
    queue([doomed] { doomed->clear(); }, {}); // stop() and destroy() may block
}

void PluginSet::release(std::shared_ptr<PluginInstance> instance) {
    if (!instance)
        return;
    // The job owns the only reference the loop had: if it is the last, the instance is
    // stopped and destroyed there, never on the loop.
    queue([instance = std::move(instance)]() mutable { instance.reset(); }, {});
}

void PluginSet::retire_all() {
    retire(std::move(plugins_));
    plugins_.clear();
}

std::vector<std::string> PluginSet::secret_keys() const {
    std::vector<std::string> keys;
    for (const auto &p : plugins_)
        add_plugin_secret_keys(keys, p.values);
    return keys;
}

void PluginSet::install(PluginSetChange change) {
    std::vector<RunningPlugin> keep, retired;
    for (auto &p : plugins_) {
        const bool kept =
            std::find(change.kept.begin(), change.kept.end(), p.name()) != change.kept.end();
        (kept ? keep : retired).push_back(std::move(p));
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
    for (const auto &p : retired)
        spdlog::info("plugin {} unloaded", p.name());
    plugins_ = std::move(keep);
    refused_ = std::move(change.refused);
    retire(std::move(retired));
    if (on_changed)
        on_changed();
}

nlohmann::json PluginSet::status_json() const {
    nlohmann::json loaded = nlohmann::json::array(), refused = nlohmann::json::array();
    for (const auto &p : plugins_)
        loaded.push_back({{"name", p.name()},
                          {"kind", plugin_kind_name(p.instance->kind())},
                          {"version", p.instance->descriptor().version}});
    for (const auto &r : refused_)
        refused.push_back(r.to_json());
    nlohmann::json doc = {{"loaded", loaded}, {"refused", refused}};
    if (loading_)
        doc["loading"] = true;
    return doc;
}

void PluginSet::register_commands(CommandTable &commands, ConfigService &config) {
    commands.add("plugins.list", [this, &config](const nlohmann::json &) {
        nlohmann::json loaded = nlohmann::json::array(), refused = nlohmann::json::array();
        for (const auto &p : plugins_)
            loaded.push_back(p.to_json());
        for (const auto &r : refused_)
            refused.push_back(r.to_json());
        return nlohmann::json{{"loaded", loaded},
                              {"refused", refused},
                              {"loading", loading_},
                              {"search_path", plugin_search_path(config.config().plugins)}};
    });

    commands.add_async("plugins.load", [this, &config](const nlohmann::json &args,
                                                       CommandTable::Reply reply) {
        std::string name = required_name(args);
        for (const auto &p : plugins_)
            if (p.name() == name)
                throw CommandError{"already_loaded", "plugin " + name + " is already loaded"};
        std::string why;
        if (!config.begin(why))
            throw CommandError{"busy", why};
        auto result = std::make_shared<SingleLoad>();
        const unsigned index = (*next_index_)++;
        // Plugin changes take turns, so the slots filled now are those at the end.
        std::vector<tierd_plugin_kind> taken;
        for (const auto &p : plugins_)
            taken.push_back(p.instance->kind());
        queue(
            [result, name, taken, index, bridge = bridge_, snapshot = config.config()] {
                *result = load_one_plugin(snapshot, name, taken, bridge, index);
            },
            [this, &config, result, name, reply] {
                config.end();
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
                if (config.is_shutting_down()) { // the agent began to stop meanwhile
                    std::vector<RunningPlugin> undo;
                    undo.push_back(std::move(p));
                    retire(std::move(undo));
                    return reply.fail({"busy", "the agent is shutting down"});
                }
                // The running config now names it, so get-config and later changes agree.
                set_configured_plugin(config.config(), p.instance->kind(), name);
                nlohmann::json info = p.to_json();
                PluginSetChange change;
                for (const auto &q : plugins_)
                    change.kept.push_back(q.name());
                change.created.push_back(std::move(p));
                for (auto &r : refused_)
                    if (r.name != name)
                        change.refused.push_back(r);
                install(std::move(change));
                reply.ok(info);
            });
    });

    commands.add_async("plugins.unload", [this, &config](const nlohmann::json &args,
                                                         CommandTable::Reply reply) {
        std::string name = required_name(args);
        auto it = std::find_if(plugins_.begin(), plugins_.end(),
                               [&](const RunningPlugin &p) { return p.name() == name; });
        if (it == plugins_.end())
            throw CommandError{"not_loaded", "no loaded plugin is named " + name};
        if (it->instance->kind() == TIERD_KIND_SOURCE)
            throw CommandError{"invalid_args",
                               "a source plugin follows the [source] table and is not "
                               "unloaded on its own"};
        std::string why;
        if (!config.begin(why))
            throw CommandError{"busy", why};
        auto doomed = std::make_shared<RunningPlugin>(std::move(*it));
        plugins_.erase(it);
        set_configured_plugin(config.config(), doomed->instance->kind(), "");
        spdlog::info("plugin {} unloading", name);
        if (on_changed)
            on_changed();
        // The reply waits until stop() and destroy() have returned (the last reference
        // is dropped on the worker; tasks in flight may still hold theirs).
        queue([doomed] { doomed->instance.reset(); },
              [this, &config, name, reply] {
                  config.end();
                  spdlog::info("plugin {} unloaded", name);
                  if (on_changed)
                      on_changed();
                  reply.ok({{"unloaded", name}});
              });
    });
}

} // namespace tierd
