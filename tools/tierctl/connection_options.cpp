#include "tools/tierctl/connection_options.hpp"

#include "tools/tierctl/exit_codes.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <set>

namespace tierctl {

namespace {

// The settings one source (file or environment) may give; empty = not given there.
struct Layer {
    std::optional<std::string> host, username, password, cafile, cert, key;
    std::optional<int> port;
};

bool readable(const std::string &path) {
    return access(path.c_str(), R_OK) == 0;
}

std::vector<std::string> default_config_paths(const EnvLookup &env) {
    std::vector<std::string> paths;
    if (auto xdg = env("XDG_CONFIG_HOME"); xdg && !xdg->empty())
        paths.push_back(*xdg + "/tierctl/tierctl.toml");
    else if (auto home = env("HOME"); home && !home->empty())
        paths.push_back(*home + "/.config/tierctl/tierctl.toml");
    paths.push_back("/etc/tierd/tierctl.toml");
    return paths;
}

std::string where(const std::string &file, const toml::source_region &source) {
    return fmt::format("{}:{}:{}", file, source.begin.line, source.begin.column);
}

int parse_port(const std::string &text, const std::string &origin) {
    char *end = nullptr;
    long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value < 1 || value > 65535)
        throw UsageError(fmt::format("{}: \"{}\" is not a port number (1..65535)", origin, text));
    return static_cast<int>(value);
}

Layer read_config_file(const std::string &file) {
    toml::table table;
    try {
        table = toml::parse_file(file);
    } catch (const toml::parse_error &e) {
        throw UsageError(
            fmt::format("{}: {}", where(file, e.source()), std::string(e.description())));
    }
    static const std::set<std::string> known = {"host",   "port", "username", "password",
                                                "cafile", "cert", "key"};
    Layer layer;
    for (const auto &[key, node] : table) {
        std::string name(key.str());
        if (!known.count(name))
            throw UsageError(fmt::format(
                "{}: unknown key \"{}\" (known: host, port, username, password, cafile, "
                "cert, key)",
                where(file, key.source()), name));
        if (name == "port") {
            auto port = node.value<int64_t>();
            if (!node.is_integer() || !port || *port < 1 || *port > 65535)
                throw UsageError(fmt::format("{}: port: expected an integer 1..65535",
                                             where(file, node.source())));
            layer.port = static_cast<int>(*port);
            continue;
        }
        if (!node.is_string())
            throw UsageError(
                fmt::format("{}: {}: expected a string", where(file, node.source()), name));
        std::string value = *node.value<std::string>();
        if (name == "host")
            layer.host = value;
        else if (name == "username")
            layer.username = value;
        else if (name == "password")
            layer.password = value;
        else if (name == "cafile")
            layer.cafile = value;
        else if (name == "cert")
            layer.cert = value;
        else
            layer.key = value;
    }
    return layer;
}

Layer read_environment(const EnvLookup &env) {
    Layer layer;
    auto get = [&](const char *name) -> std::optional<std::string> {
        auto value = env(name);
        return value && !value->empty() ? value : std::nullopt;
    };
    layer.host = get("TIERCTL_HOST");
    if (auto port = get("TIERCTL_PORT"))
        layer.port = parse_port(*port, "TIERCTL_PORT");
    layer.username = get("TIERCTL_USERNAME");
    layer.password = get("TIERCTL_PASSWORD");
    layer.cafile = get("TIERCTL_CAFILE");
    layer.cert = get("TIERCTL_CERT");
    layer.key = get("TIERCTL_KEY");
    return layer;
}

// The first line of the file, without its line end: the common shape of secret files.
std::string read_password_file(const std::string &path) {
    std::ifstream in(path);
    if (!in)
        throw UsageError(fmt::format("--password-file {}: cannot read it", path));
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    return line;
}

template <typename T>
void take(T &target, const std::optional<T> &flag, const std::optional<T> &env,
          const std::optional<T> &file) {
    if (flag)
        target = *flag;
    else if (env)
        target = *env;
    else if (file)
        target = *file;
}

} // namespace

EnvLookup process_environment() {
    return [](const std::string &name) -> std::optional<std::string> {
        const char *value = std::getenv(name.c_str());
        return value ? std::optional<std::string>(value) : std::nullopt;
    };
}

std::string default_client_id() {
    std::random_device device;
    return fmt::format("tierctl-{}-{:08x}", static_cast<long>(getpid()), device());
}

ConnectionOptions resolve_connection(const ConnectionFlags &flags, const EnvLookup &env) {
    ConnectionOptions options;
    Layer file;
    if (flags.config_file) {
        if (!readable(*flags.config_file))
            throw UsageError(fmt::format("--config {}: cannot read it", *flags.config_file));
        options.config_file = *flags.config_file;
    } else {
        for (const auto &path : default_config_paths(env))
            if (readable(path)) {
                options.config_file = path;
                break;
            }
    }
    if (!options.config_file.empty())
        file = read_config_file(options.config_file);
    Layer environment = read_environment(env);

    if (flags.password && flags.password_file)
        throw UsageError("--password and --password-file exclude each other");
    std::optional<std::string> password_flag = flags.password;
    if (flags.password_file)
        password_flag = read_password_file(*flags.password_file);

    take(options.host, flags.host, environment.host, file.host);
    take(options.port, flags.port, environment.port, file.port);
    take(options.username, flags.username, environment.username, file.username);
    take(options.password, password_flag, environment.password, file.password);
    take(options.cafile, flags.cafile, environment.cafile, file.cafile);
    take(options.cert, flags.cert, environment.cert, file.cert);
    take(options.key, flags.key, environment.key, file.key);
    options.client_id = flags.client_id.value_or(default_client_id());

    if (options.host.empty())
        throw UsageError("the broker host is empty");
    if (options.port < 1 || options.port > 65535)
        throw UsageError(fmt::format("--port {}: not a port number (1..65535)", options.port));
    if (options.client_id.empty())
        throw UsageError("--client-id is empty");
    if (!options.password.empty() && options.username.empty())
        throw UsageError("a password was given without a username (--username, "
                         "TIERCTL_USERNAME or username in the config file)");
    if (options.cert.empty() != options.key.empty())
        throw UsageError("a client certificate needs its key and a key its certificate "
                         "(--cert and --key)");
    if (!options.cert.empty() && options.cafile.empty())
        throw UsageError("--cert/--key need TLS: give the CA file too (--cafile)");
    for (const auto &[what, path] : {std::pair{"CA file", options.cafile},
                                     {"certificate", options.cert},
                                     {"key", options.key}})
        if (!path.empty() && !readable(path))
            throw UsageError(fmt::format("{} {}: cannot read it", what, path));
    return options;
}

} // namespace tierctl
