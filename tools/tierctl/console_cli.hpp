// What every sub-command shares: the global options, addressing (DEVICE | --group |
// --all), the reply timeout, and running one command through a FleetConsole.
#pragma once

#include "tools/tierctl/command_report.hpp"
#include "tools/tierctl/connection_options.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tierctl {

struct GlobalOptions {
    ConnectionFlags connection;
    bool json = false;

    ConnectionOptions resolve() const;
};

// A sub-command's body; runs after parsing, returns the exit code.
using Runner = std::function<int()>;

struct TargetOptions {
    std::string group;
    bool all = false;
    double timeout_s = 5.0;
};

// --group, --all and --timeout on a sub-command that addresses devices.
void add_target_options(CLI::App *command, TargetOptions &options);

// The target from the options, taking DEVICE from the front of words when neither
// --group nor --all is given. Throws UsageError when no device is named.
Target take_target(const TargetOptions &options, std::vector<std::string> &words);

// Connects, sends the command, waits and reports; returns the exit code.
int run_and_report(const GlobalOptions &globals, const TargetOptions &target_options,
                   const Target &target, const std::string &op, const nlohmann::json &args,
                   const ResultView &view = {});

// Explains the exit codes; the footer of every sub-command's --help.
extern const char *const kExitCodesHelp;

Runner add_devices_command(CLI::App &app, const GlobalOptions &globals);
Runner add_cmd_command(CLI::App &app, const GlobalOptions &globals);
Runner add_watch_command(CLI::App &app, const GlobalOptions &globals);
Runner add_config_command(CLI::App &app, const GlobalOptions &globals);
Runner add_plugins_command(CLI::App &app, const GlobalOptions &globals);
Runner add_models_command(CLI::App &app, const GlobalOptions &globals);
Runner add_samples_command(CLI::App &app, const GlobalOptions &globals);

} // namespace tierctl
