// Where tierctl finds its broker: flags, then TIERCTL_* environment, then a TOML file,
// then the defaults (127.0.0.1:1883, anonymous, no TLS).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace tierctl {

struct ConnectionOptions {
    std::string host = "127.0.0.1";
    int port = 1883;
    std::string username; // "" = anonymous
    std::string password; // secret: never printed
    std::string cafile;   // "" = no TLS
    std::string cert;
    std::string key;
    std::string client_id;
    int keepalive_s = 30;
    std::string config_file; // the file that was read, "" = none (for messages only)

    std::string address() const { return host + ":" + std::to_string(port); }
};

// What the command line gave; an empty optional means "not given".
struct ConnectionFlags {
    std::optional<std::string> host;
    std::optional<int> port;
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<std::string> password_file;
    std::optional<std::string> cafile;
    std::optional<std::string> cert;
    std::optional<std::string> key;
    std::optional<std::string> client_id;
    std::optional<std::string> config_file; // explicit --config: must exist
};

// Reads an environment variable; injectable so the precedence rule can be checked alone.
using EnvLookup = std::function<std::optional<std::string>(const std::string &name)>;
EnvLookup process_environment();

// Applies flags > environment > config file > defaults. Throws UsageError for a bad value,
// a missing or malformed file (with file:line:column), or unreadable TLS/password files.
ConnectionOptions resolve_connection(const ConnectionFlags &flags, const EnvLookup &env);

// tierctl-<pid>-<random hex>: unique per run, so two consoles never steal each other's session.
std::string default_client_id();

} // namespace tierctl
