#include "agent/core/config_service.hpp"

#include "agent/config/config_changes.hpp"
#include "agent/config/config_json.hpp"
#include "agent/config/config_loader.hpp"
#include "agent/config/default_config.hpp"
#include "agent/config/secret_file_check.hpp"
#include "agent/core/logging.hpp"
#include "agent/loop/loop_work.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <variant>

namespace tierd {

CommandError config_error(const ConfigErrors &errors) {
    std::string message = to_string(errors);
    if (!message.empty() && message.back() == '\n')
        message.pop_back();
    return {"config_invalid", message};
}

// A change in flight: read (for reload) and prepared on a worker, applied on the loop.
struct ConfigService::Job {
    std::optional<ConfigSource> reload_from; // set: read the source again first
    std::optional<Config> config;            // set: the new config, already validated
    hal::HalOptions current_hal;
    std::function<PluginSetChange(const Config &)> prepare_plugins;
    std::vector<std::string> running_secret_keys; // SECRET keys of the running plugins
    Done done;
    std::function<void()> before_apply;
    // Outputs
    std::optional<CommandError> error;
    ConfigChange change;
};

ConfigService::ConfigService(uv_loop_t *loop, Config config, ConfigSource source)
    : loop_(loop), config_(std::move(config)), source_(std::move(source)),
      options_(derive_agent_options(config_)) {}

void ConfigService::commit(Config config, AgentOptions options) {
    config_ = std::move(config);
    options_ = std::move(options);
}

void ConfigService::refresh_view(const std::vector<RunningPlugin> &plugins) {
    nlohmann::json view = to_json(config_);
    std::vector<std::string> secrets = secret_values(config_);
    auto &tables = view["plugin"];
    for (const auto &p : plugins) {
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
        const bool running =
            std::any_of(plugins.begin(), plugins.end(),
                        [&n = name](const RunningPlugin &p) { return p.name() == n; });
        if (!running && table.is_object())
            for (auto &[key, value] : table.items())
                value = "<not shown: plugin not running>";
    }
    options_.config_view = std::move(view);
    set_log_secrets(std::move(secrets));
}

bool ConfigService::begin(std::string &why) {
    if (shutting_down_) {
        why = "the agent is shutting down";
        return false;
    }
    if (changing_) {
        why = "another config or plugin change is running";
        return false;
    }
    changing_ = true;
    return true;
}

void ConfigService::set_override(const std::string &key,
                                 const std::optional<std::string> &toml_value) {
    auto &sets = source_.overrides;
    const std::string prefix = key + "=";
    sets.erase(std::remove_if(sets.begin(), sets.end(),
                              [&](const std::string &s) { return s.rfind(prefix, 0) == 0; }),
               sets.end());
    if (toml_value)
        sets.push_back(prefix + *toml_value);
}

void ConfigService::reload(Done done) {
    auto job = std::make_unique<Job>();
    job->reload_from = source_;
    job->done = std::move(done);
    queue(std::move(job));
}

void ConfigService::change_to(Config next, Done done, std::function<void()> before_apply) {
    auto job = std::make_unique<Job>();
    job->config = std::move(next);
    job->done = std::move(done);
    job->before_apply = std::move(before_apply);
    queue(std::move(job));
}

void ConfigService::queue(std::unique_ptr<Job> job) {
    // One change at a time, so two never race to replace the same parts.
    std::string busy;
    if (!begin(busy)) {
        job->done(CommandError{"busy", busy});
        return;
    }
    job->current_hal = options_.hal;
    job->prepare_plugins = hooks_.plugin_preparer();
    if (job->reload_from && hooks_.running_secret_keys)
        job->running_secret_keys = hooks_.running_secret_keys();
    auto shared = std::shared_ptr<Job>(std::move(job));
    queue_loop_work(
        loop_,
        [j = shared] { // worker thread: file reads, HAL set-up, plugin loads
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
                ConfigChange &c = j->change;
                c.options = derive_agent_options(*j->config);
                if (!same_hal_options(c.options.hal, j->current_hal))
                    c.new_hal = std::make_shared<hal::Hal>(c.options.hal);
                // All or nothing, plugins included: a plugin the new config cannot load
                // or start refuses the change, and the running ones stay.
                c.plugins = j->prepare_plugins(*j->config);
                if (!c.plugins.errors.empty()) {
                    j->error = config_error(c.plugins.errors);
                } else if (!c.plugins.refused.empty()) {
                    std::string why;
                    for (const auto &r : c.plugins.refused)
                        why += (why.empty() ? "" : "\n") + r.to_string();
                    j->error = CommandError{"plugin_refused", why};
                } else if (j->reload_from) {
                    // The file was read again: it may have gained secrets or lost its mode.
                    std::vector<std::string> keys = j->running_secret_keys;
                    for (const auto &p : c.plugins.created)
                        add_plugin_secret_keys(keys, p.values);
                    if (auto warning = secret_file_warning(j->reload_from->file, keys))
                        spdlog::warn("{}", *warning);
                }
                c.config = std::move(*j->config);
            } catch (const std::exception &e) {
                j->error = CommandError{"config_invalid", e.what()};
            }
        },
        [this, j = shared] { // loop thread
            changing_ = false;
            if (!j->error && shutting_down_)
                j->error = CommandError{"busy", "the agent is shutting down"};
            if (j->error) {
                hooks_.discard(j->change.plugins);
                return j->done(j->error);
            }
            if (j->before_apply)
                j->before_apply();
            try {
                hooks_.apply(j->change);
            } catch (const std::exception &e) {
                hooks_.discard(j->change.plugins);
                return j->done(CommandError{"config_invalid", e.what()});
            }
            j->done(std::nullopt);
        },
        "config change");
}

void ConfigService::register_commands(CommandTable &commands) {
    commands.add("get-config", [this](const nlohmann::json &) { return options_.config_view; });
    commands.add_async("set-config", [this](const nlohmann::json &args, CommandTable::Reply reply) {
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
    commands.add_async("reload", [this](const nlohmann::json &, CommandTable::Reply reply) {
        reload([this, reply](const std::optional<CommandError> &error) {
            if (error)
                return reply.fail(*error);
            reply.ok({{"config", source_.file.empty() ? "<default>" : source_.file}});
        });
    });
}

} // namespace tierd
