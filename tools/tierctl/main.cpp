// tierctl — the command-line fleet console for tierd agents. It speaks only the MQTT
// contract of docs/mqtt.md: retained statuses, commands with MQTT 5 request/response,
// telemetry. docs/tierctl.md is its manual.
#include "tierd_version.h"
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

constexpr const char *kMainFooter =
    "Broker settings: flags > environment (TIERCTL_HOST, TIERCTL_PORT, TIERCTL_USERNAME,\n"
    "TIERCTL_PASSWORD, TIERCTL_CAFILE, TIERCTL_CERT, TIERCTL_KEY) > config file (--config,\n"
    "else $XDG_CONFIG_HOME/tierctl/tierctl.toml or ~/.config/tierctl/tierctl.toml, then\n"
    "/etc/tierd/tierctl.toml) > defaults (127.0.0.1:1883, anonymous, no TLS).\n"
    "Global options may also follow the sub-command. Manual: docs/tierctl.md.\n\n";

// The broker flags, bound to strings; a flag counts as given only if it was on the line.
struct BrokerFlags {
    std::string host, username, password, password_file, cafile, cert, key, client_id, config;
    int port = 0;
    std::vector<std::pair<CLI::Option *, std::optional<std::string> *>> strings;
    CLI::Option *port_option = nullptr;

    void add(CLI::App &app, tierctl::ConnectionFlags &flags) {
        auto text = [&](const char *name, std::string &value, std::optional<std::string> &out,
                        const char *help) {
            strings.push_back({app.add_option(name, value, help), &out});
        };
        text("--host,-H", host, flags.host, "Broker host (default 127.0.0.1)");
        port_option = app.add_option("--port,-p", port, "Broker port (default 1883)")
                          ->check(CLI::Range(1, 65535));
        text("--username,-u", username, flags.username, "Broker user name");
        text("--password", password, flags.password,
             "Broker password (visible to other users in ps: prefer --password-file or "
             "TIERCTL_PASSWORD)");
        text("--password-file", password_file, flags.password_file,
             "Read the broker password from the first line of FILE");
        text("--cafile", cafile, flags.cafile, "CA bundle: connect with TLS");
        text("--cert", cert, flags.cert, "Client certificate for mutual TLS (with --key)");
        text("--key", key, flags.key, "Client private key for mutual TLS (with --cert)");
        text("--client-id", client_id, flags.client_id,
             "MQTT client id (default tierctl-<pid>-<random>)");
        text("--config,-c", config, flags.config_file, "tierctl config file (TOML)");
    }

    void collect(tierctl::ConnectionFlags &flags) const {
        for (const auto &[option, out] : strings)
            if (option->count() > 0)
                *out = option->as<std::string>();
        if (port_option->count() > 0)
            flags.port = port;
    }
};

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"tierctl — fleet console for tierd agents over MQTT 5"};
    app.set_version_flag("--version", std::string("tierctl ") + TIERD_VERSION_STRING);
    app.footer(std::string(kMainFooter) + tierctl::kExitCodesHelp);
    app.require_subcommand(1);
    app.fallthrough(); // global options after the sub-command: `tierctl devices --json`

    tierctl::GlobalOptions globals;
    BrokerFlags broker;
    broker.add(app, globals.connection);
    app.add_flag("--json,-j", globals.json, "Machine-readable output: one JSON document");

    std::vector<std::pair<CLI::App *, tierctl::Runner>> commands;
    auto track = [&](const char *name, tierctl::Runner runner) {
        commands.emplace_back(app.get_subcommand(name), std::move(runner));
    };
    track("devices", tierctl::add_devices_command(app, globals));
    track("cmd", tierctl::add_cmd_command(app, globals));
    track("watch", tierctl::add_watch_command(app, globals));
    track("config", tierctl::add_config_command(app, globals));
    track("plugins", tierctl::add_plugins_command(app, globals));
    track("models", tierctl::add_models_command(app, globals));
    track("samples", tierctl::add_samples_command(app, globals));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        // --help and --version end here with 0; every real parse error is a usage error.
        return app.exit(e) == 0 ? tierctl::kExitOk : tierctl::kExitUsage;
    }
    broker.collect(globals.connection);

    try {
        for (const auto &[command, run] : commands)
            if (command->parsed())
                return run();
        throw tierctl::UsageError("name a sub-command");
    } catch (const tierctl::UsageError &e) {
        std::cerr << "tierctl: " << e.what() << "\nRun with --help for more information.\n";
        return tierctl::kExitUsage;
    } catch (const tierctl::Failure &e) {
        std::cerr << "tierctl: " << e.what() << "\n";
        return tierctl::kExitFailure;
    } catch (const std::exception &e) {
        std::cerr << "tierctl: " << e.what() << "\n";
        return tierctl::kExitFailure;
    }
}
