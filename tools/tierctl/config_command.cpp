// `tierctl config get|set`: the get-config and set-config commands.
#include "tools/tierctl/command_args.hpp"
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"

#include <iostream>
#include <optional>

namespace tierctl {

namespace {

struct ConfigOptions {
    TargetOptions target;
    std::vector<std::string> words;
};

// A scalar as people write it (strings unquoted); anything else as JSON.
std::string plain(const nlohmann::json &value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
}

int run_get(const GlobalOptions &globals, ConfigOptions options) {
    Target target = take_target(options.target, options.words);
    if (options.words.size() > 1)
        throw UsageError("config get takes one KEY at most");
    if (options.words.empty())
        return run_and_report(globals, options.target, target, "get-config", {});
    const std::string key = options.words.front();
    ResultView view;
    // The reply is the whole running config; show the key's value.
    auto pick = [key](const nlohmann::json &config) -> std::optional<nlohmann::json> {
        if (const nlohmann::json *value = find_dotted(config, key))
            return *value;
        return std::nullopt;
    };
    view.cell = [pick, key](const nlohmann::json &config) {
        auto value = pick(config);
        return value ? plain(*value) : "(no key " + key + ")";
    };
    view.single = [pick, key](std::ostream &out, const nlohmann::json &config) {
        auto value = pick(config);
        if (!value)
            out << "(no key " << key << ")\n";
        else
            out << (value->is_structured() ? value->dump(2) : plain(*value)) << "\n";
    };
    return run_and_report(globals, options.target, target, "get-config", {}, view);
}

int run_set(const GlobalOptions &globals, ConfigOptions options) {
    Target target = take_target(options.target, options.words);
    if (options.words.empty())
        throw UsageError("config set needs KEY=VALUE changes, e.g. telemetry.interval_ms=500");
    nlohmann::json changes = parse_arguments(options.words, {});
    auto applied = [](const nlohmann::json &result) {
        return "applied " + result.value("applied", nlohmann::json::array()).dump();
    };
    ResultView view;
    view.cell = applied;
    view.single = [applied](std::ostream &out, const nlohmann::json &result) {
        out << applied(result) << "\n";
    };
    return run_and_report(globals, options.target, target, "set-config", {{"changes", changes}},
                          view);
}

} // namespace

Runner add_config_command(CLI::App &app, const GlobalOptions &globals) {
    auto get = std::make_shared<ConfigOptions>();
    auto set = std::make_shared<ConfigOptions>();
    auto *command = app.add_subcommand("config", "Read or change the running config "
                                                 "(get-config, set-config)");
    command->require_subcommand(1);
    command->footer(kExitCodesHelp);

    auto *get_cmd = command->add_subcommand(
        "get", "Show the running config, or one KEY by dotted path (mqtt.password is "
               "\"<redacted>\")");
    get_cmd->add_option("words", get->words, "[DEVICE] [KEY]: DEVICE unless --group/--all");
    add_target_options(get_cmd, get->target);
    get_cmd->footer(kExitCodesHelp);

    auto *set_cmd = command->add_subcommand(
        "set", "Change keys of the running config, all or nothing (in memory: a reload reads "
               "the file again)");
    set_cmd->add_option("words", set->words,
                        "[DEVICE] KEY=VALUE...: DEVICE unless --group/--all; VALUE is read as "
                        "JSON, else as a string");
    add_target_options(set_cmd, set->target);
    set_cmd->footer(kExitCodesHelp);

    return [&globals, get, set, get_cmd] {
        return get_cmd->parsed() ? run_get(globals, *get) : run_set(globals, *set);
    };
}

} // namespace tierctl
