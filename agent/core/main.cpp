// tierd — the edge-node agent. Parses the command line, loads the config and runs the
// Agent.
#include "agent/config/config_json.hpp"
#include "agent/config/config_loader.hpp"
#include "agent/config/core_config_toml.hpp"
#include "agent/config/default_config.hpp"
#include "agent/config/secret_file_check.hpp"
#include "agent/core/agent.hpp"
#include "agent/core/agent_options.hpp"
#include "agent/core/logging.hpp"
#include "agent/plugin_host/plugin_plan.hpp"
#include "hal/hal.hpp"
#include "hal/profile.hpp"
#include "tierd_version.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>
#include <tuple>

namespace {

// `tierd hal`: what the HAL finds on this machine, as JSON on stdout.
int print_hal(const tierd::Config &config) {
    try {
        tierd::hal::Hal hal(tierd::derive_hal_options(config));
        auto doc = hal.snapshot_json("all");
        auto energy = hal.read_energy();
        doc["energy"] = {
            {"energy_j", energy.energy_j}, {"power_w", energy.power_w}, {"source", energy.source}};
        std::cout << doc.dump(2) << "\n";
        return 0;
    } catch (const std::exception &e) {
        std::cerr << "tierd hal: " << e.what() << "\n";
        return 1;
    }
}

// The warning for a config file that holds secrets and that every user may read.
std::optional<std::string> readable_secrets_warning(const std::string &file,
                                                    const tierd::PluginPlan &plan) {
    std::vector<std::string> keys;
    for (const auto &p : plan.ready)
        tierd::add_plugin_secret_keys(keys, p.values);
    return tierd::secret_file_warning(file, keys);
}

// The daemon builds its HAL at start and exits when hal.profile names no loadable
// profile (under systemd: a restart loop), so --check-config loads it the same way:
// derive_hal_options' search path, hal::load_profile.
tierd::ConfigErrors hal_profile_errors(const tierd::Config &config) {
    if (config.hal.profile.empty())
        return {}; // the generic estimate profile
    const auto options = tierd::derive_hal_options(config);
    std::string problem;
    try {
        (void)tierd::hal::load_profile(options.profile, options.profile_dirs);
        return {};
    } catch (const std::exception &e) {
        problem = e.what();
    }
    std::string searched;
    bool found = false;
    for (const auto &dir : options.profile_dirs) {
        searched += (searched.empty() ? "" : ", ") + dir.string();
        std::error_code ec;
        found = found || std::filesystem::exists(dir / (options.profile + ".toml"), ec);
    }
    if (!found)
        problem = "no hardware profile '" + options.profile + "' (" + options.profile +
                  ".toml) in " + searched;
    const toml::node *node = config.document["hal"]["profile"].node();
    return {tierd::config_error_at(node, config.source_file, "hal.profile", problem)};
}

// The model store (docs/models.md), opened and recovered once, here: unfinished uploads
// are discarded and an active file that no longer verifies falls back first. A restart
// comes up on the versions it had active: their overlay manifest becomes a lasting
// override (`override`), as the activation made it. No state_dir: no store.
struct ModelStoreAtStart {
    std::shared_ptr<tierd::ModelStore> store;
    std::optional<std::string> override;
};

ModelStoreAtStart open_model_store(const tierd::Config &config) {
    ModelStoreAtStart out;
    if (config.agent.state_dir.empty())
        return out;
    try {
        out.store = std::make_shared<tierd::ModelStore>(
            (std::filesystem::path(config.agent.state_dir) / "models").string());
        for (const auto &line : out.store->recover())
            spdlog::warn("models: {}", line);
        if (config.plugins.inference.empty() || !out.store->any_active() ||
            out.store->base_manifest().empty())
            return out;
        const std::string overlay = out.store->overlay(out.store->base_manifest());
        spdlog::info("models: serving the updated versions of {} ({})", out.store->base_manifest(),
                     overlay);
        out.override =
            "plugin." + config.plugins.inference + ".manifest=" + nlohmann::json(overlay).dump();
    } catch (const tierd::ModelStoreError &e) {
        spdlog::error("models: the model store cannot be used ({}): the shipped models serve "
                      "and updates are refused",
                      e.message);
        out = {};
    }
    return out;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"tierd — edge-node agent for cloud-edge-end collaborative DL inference"};
    app.set_version_flag("--version", std::string("tierd ") + TIERD_VERSION_STRING);

    std::string config_file, check_file, role, device_id;
    std::vector<std::string> sets;
    bool print_default = false;
    app.add_option("--config", config_file, "Config file (default: the built-in default config)")
        ->check(CLI::ExistingFile);
    app.add_option("--check-config", check_file,
                   "Validate FILE (with any --set), print 'ok' or the errors, and exit");
    app.add_flag("--print-default-config", print_default,
                 "Print the default config (every key, commented) and exit");
    app.add_option("--role", role, "This agent's tier (overrides agent.role)")
        ->check(CLI::IsMember({"end", "edge", "cloud"}));
    app.add_option("--device-id", device_id, "Device id (overrides agent.device_id)");
    app.add_option("--set", sets, "Override a config key by dotted path: KEY=VALUE (repeatable)");
    auto *hal_cmd = app.add_subcommand("hal", "Print what the HAL finds on this machine as JSON");
    CLI11_PARSE(app, argc, argv);

    if (print_default) {
        std::cout << tierd::default_config_with_plugins();
        return 0;
    }
    // The command-line shortcuts are overrides like any --set, validated the same way.
    if (!role.empty())
        sets.push_back("agent.role=\"" + role + "\"");
    if (!device_id.empty())
        sets.push_back("agent.device_id=\"" + device_id + "\"");

    if (!check_file.empty()) {
        auto result = tierd::load_config_file(check_file, sets);
        if (!result.ok()) {
            std::cerr << tierd::to_string(result.errors);
            return 1;
        }
        // The plugins are part of the check: each configured one must load, and every
        // [plugin.<name>] table must match the keys its plugin declares.
        auto plan = tierd::plan_plugins(*result.config);
        for (const auto &warning : plan.warnings)
            std::cerr << "warning: " << warning.to_string() << "\n";
        if (auto warning = readable_secrets_warning(check_file, plan))
            std::cerr << "warning: " << *warning << "\n";
        auto errors = tierd::plan_errors(*result.config, plan);
        auto profile_errors = hal_profile_errors(*result.config);
        errors.insert(errors.end(), profile_errors.begin(), profile_errors.end());
        std::stable_sort(errors.begin(), errors.end(), [](const auto &a, const auto &b) {
            return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
        });
        if (!errors.empty()) {
            std::cerr << tierd::to_string(errors);
            return 1;
        }
        std::cout << "ok\n";
        return 0;
    }

    if (hal_cmd->parsed()) {
        auto loaded = config_file.empty() ? tierd::load_default_config(sets)
                                          : tierd::load_config_file(config_file, sets);
        if (!loaded.ok()) {
            std::cerr << tierd::to_string(loaded.errors);
            return 1;
        }
        return print_hal(*loaded.config);
    }

    tierd::setup_logging();
    auto result = config_file.empty() ? tierd::load_default_config(sets)
                                      : tierd::load_config_file(config_file, sets);
    if (!result.ok()) {
        std::cerr << tierd::to_string(result.errors);
        return 1;
    }
    auto models = open_model_store(*result.config);
    if (models.override) {
        sets.push_back(*models.override);
        result = config_file.empty() ? tierd::load_default_config(sets)
                                     : tierd::load_config_file(config_file, sets);
        if (!result.ok()) {
            std::cerr << tierd::to_string(result.errors);
            return 1;
        }
    }
    // A bad key in a [plugin.<name>] table is a config error like any other. (A plugin
    // that cannot be loaded is not: the agent reports it and serves on.)
    auto plan = tierd::plan_plugins(*result.config);
    if (!plan.errors.empty()) {
        std::cerr << tierd::to_string(plan.errors);
        return 1;
    }
    if (auto warning = readable_secrets_warning(config_file, plan))
        spdlog::warn("{}", *warning);
    // libuv's worker pool is process-wide and sized once, before its first use.
    unsigned threads = result.config->workers.threads > 0
                           ? static_cast<unsigned>(result.config->workers.threads)
                           : std::max(1u, std::thread::hardware_concurrency());
    setenv("UV_THREADPOOL_SIZE", std::to_string(threads).c_str(), 1);
    try {
        tierd::Agent agent(std::move(*result.config), {config_file, sets}, std::move(plan),
                           std::move(models.store));
        return agent.run();
    } catch (const std::exception &e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}
