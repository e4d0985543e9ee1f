// `tierctl devices`: the fleet from the retained status documents.
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"
#include "tools/tierctl/fleet_console.hpp"
#include "tools/tierctl/table.hpp"

#include <fmt/format.h>

#include <iostream>

namespace tierctl {

namespace {

struct DevicesOptions {
    bool probe_groups = false;
    double timeout_s = 2.0;
};

std::string join_or_dash(const std::vector<std::string> &items) {
    return items.empty() ? "-" : fmt::format("{}", fmt::join(items, ","));
}

int run_devices(const GlobalOptions &globals, const DevicesOptions &options) {
    FleetConsole console(globals.resolve());
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto &[id, status] : console.fleet().devices())
        if (status.groups)
            groups[id] = *status.groups;
    if (options.probe_groups)
        groups = console.device_groups(
            Clock::now() + std::chrono::milliseconds(static_cast<long>(options.timeout_s * 1000)));

    if (globals.json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto &[id, status] : console.fleet().devices()) {
            auto j = status.to_json();
            if (auto it = groups.find(id); it != groups.end())
                j["groups"] = it->second;
            list.push_back(std::move(j));
        }
        std::cout << nlohmann::json{{"devices", list}}.dump(2) << "\n";
        return kExitOk;
    }
    if (console.fleet().devices().empty()) {
        std::cerr << fmt::format("tierctl: no device has a status on {}\n",
                                 globals.resolve().address());
        return kExitOk;
    }
    Table table({"DEVICE", "ROLE", "STATE", "VERSION", "GROUPS", "PLUGINS"});
    for (const auto &[id, status] : console.fleet().devices()) {
        auto it = groups.find(id);
        std::string plugins = join_or_dash(status.plugins_loaded);
        if (!status.plugins_refused.empty())
            plugins += fmt::format(" (refused: {})", fmt::join(status.plugins_refused, ","));
        if (status.plugins_loading)
            plugins += " (loading)";
        table.add({id, status.role.empty() ? "?" : status.role, status.state,
                   status.version.empty() ? "?" : status.version,
                   it == groups.end() ? "?" : join_or_dash(it->second), plugins});
    }
    table.print(std::cout);
    return kExitOk;
}

} // namespace

Runner add_devices_command(CLI::App &app, const GlobalOptions &globals) {
    auto options = std::make_shared<DevicesOptions>();
    auto *command = app.add_subcommand(
        "devices", "List the devices from their retained status documents "
                   "(tierd/v1/dev/+/status): id, role, state, version, groups, plugins");
    command->add_flag("--probe-groups", options->probe_groups,
                      "Ask online devices for their groups (get-config); status documents of "
                      "contract v1 do not carry them, so GROUPS is '?' without this");
    command
        ->add_option("--timeout,-t", options->timeout_s,
                     "Seconds to wait for the --probe-groups answers (default 2)")
        ->check(CLI::PositiveNumber);
    command->footer(kExitCodesHelp);
    return [&globals, options] { return run_devices(globals, *options); };
}

} // namespace tierctl
