// `tierctl cmd DEVICE|--group G|--all OP [KEY=VALUE...] [--args JSON]`: any command of
// docs/mqtt.md, with the replies collected by correlation data.
#include "tools/tierctl/command_args.hpp"
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"

namespace tierctl {

namespace {

struct CmdOptions {
    TargetOptions target;
    std::vector<std::string> words; // [DEVICE] OP [KEY=VALUE...]
    std::string args_json;
};

int run_cmd(const GlobalOptions &globals, CmdOptions options) {
    Target target = take_target(options.target, options.words);
    if (options.words.empty())
        throw UsageError("name the command (OP), e.g. ping, status, get-config");
    std::string op = options.words.front();
    options.words.erase(options.words.begin());
    nlohmann::json args = parse_arguments(options.words, options.args_json);
    return run_and_report(globals, options.target, target, op, args);
}

} // namespace

Runner add_cmd_command(CLI::App &app, const GlobalOptions &globals) {
    auto options = std::make_shared<CmdOptions>();
    auto *command = app.add_subcommand(
        "cmd", "Send a command (ping, status, get-config, set-config, reload, hal, plugins.list, "
               "profile, policy.set, ...) and show the replies");
    command->add_option("words", options->words,
                        "[DEVICE] OP [KEY=VALUE...]: DEVICE unless --group/--all; each VALUE "
                        "is read as JSON, else as a string");
    command->add_option("--args", options->args_json,
                        "The command's args as a JSON object (KEY=VALUE words are merged over it)");
    add_target_options(command, options->target);
    command->footer(kExitCodesHelp);
    return [&globals, options] { return run_cmd(globals, *options); };
}

} // namespace tierctl
