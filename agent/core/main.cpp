// tierd — the edge-node agent. Parses the command line and runs the Agent.
#include "agent/core/agent.hpp"
#include "agent/core/logging.hpp"
#include "tierd_version.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>
#include <regex>

namespace {

std::string hostname_or_default() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
        return "tierd";
    return buf;
}

// Applies one --set KEY=VALUE. Only the broker keys are known until the full
// config component lands; anything else is refused by name.
bool apply_set(const std::string &arg, tierd::AgentOptions &options, std::string &error) {
    auto eq = arg.find('=');
    if (eq == std::string::npos) {
        error = "--set " + arg + ": expected KEY=VALUE";
        return false;
    }
    std::string key = arg.substr(0, eq), value = arg.substr(eq + 1);
    if (key == "mqtt.host") {
        options.mqtt.host = value;
        return true;
    }
    if (key == "mqtt.port") {
        try {
            size_t used = 0;
            int port = std::stoi(value, &used);
            if (used == value.size() && port >= 1 && port <= 65535) {
                options.mqtt.port = port;
                return true;
            }
        } catch (const std::exception &) {
        }
        error = "--set mqtt.port: expected an integer in [1, 65535], got \"" + value + "\"";
        return false;
    }
    error = "--set " + key + ": unknown key";
    return false;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"tierd — edge-node agent for cloud-edge-end collaborative DL inference"};
    app.set_version_flag("--version", std::string("tierd ") + TIERD_VERSION_STRING);

    tierd::AgentOptions options;
    options.identity.role = "end";
    std::string device_id;
    std::vector<std::string> sets;
    app.add_option("--role", options.identity.role, "This agent's tier")
        ->check(CLI::IsMember({"end", "edge", "cloud"}));
    app.add_option("--device-id", device_id, "Device id (default: the hostname)")
        ->check([](const std::string &v) {
            static const std::regex ok("[A-Za-z0-9_.-]+");
            return std::regex_match(v, ok) ? std::string() : "must match [A-Za-z0-9_.-]+";
        });
    app.add_option("--set", sets, "Override a config key: KEY=VALUE (repeatable)");
    CLI11_PARSE(app, argc, argv);
    tierd::setup_logging();

    for (const auto &s : sets) {
        std::string error;
        if (!apply_set(s, options, error)) {
            std::cerr << "tierd: " << error << "\n";
            return 2;
        }
    }
    options.identity.device_id = device_id.empty() ? hostname_or_default() : device_id;
    return tierd::Agent(std::move(options)).run();
}
