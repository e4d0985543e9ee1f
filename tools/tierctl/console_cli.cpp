#include "tools/tierctl/console_cli.hpp"

#include "common/topics.hpp"
#include "tools/tierctl/exit_codes.hpp"
#include "tools/tierctl/fleet_console.hpp"

#include <chrono>
#include <cmath>

namespace tierctl {

const char *const kExitCodesHelp =
    "Exit codes:\n"
    "  0  every addressed device answered, and every answer was ok\n"
    "  1  failure: no connection to the broker, or no device answered ok\n"
    "     (nothing answered, only error replies, or replies that are not the contract's)\n"
    "  2  usage error: bad arguments, environment value or config file; nothing was sent\n"
    "  3  partial: some devices answered ok, but some did not answer or answered an error";

ConnectionOptions GlobalOptions::resolve() const {
    return resolve_connection(connection, process_environment());
}

void add_target_options(CLI::App *command, TargetOptions &options) {
    auto *group = command->add_option("--group,-g", options.group,
                                      "Address the group G (tierd/v1/group/G/cmd) instead of "
                                      "one device");
    auto *all =
        command->add_flag("--all,-a", options.all, "Address every device (tierd/v1/fleet/cmd)");
    group->excludes(all);
    command
        ->add_option("--timeout,-t", options.timeout_s,
                     "Seconds to wait for the replies (default 5)")
        ->check(CLI::PositiveNumber);
}

namespace {

// A topic level: MQTT wildcards or separators would address other devices.
void check_topic_level(const std::string &what, const std::string &name) {
    if (!tierd::topics::is_topic_level(name))
        throw UsageError(what + " \"" + name + "\" is not a valid name (no '/', '+', '#')");
}

} // namespace

Target take_target(const TargetOptions &options, std::vector<std::string> &words) {
    if (options.all)
        return {Target::Kind::fleet, {}};
    if (!options.group.empty()) {
        check_topic_level("group", options.group);
        return {Target::Kind::group, options.group};
    }
    if (words.empty())
        throw UsageError("name a DEVICE, or give --group G or --all");
    Target target{Target::Kind::device, words.front()};
    words.erase(words.begin());
    check_topic_level("device", target.name);
    return target;
}

int run_and_report(const GlobalOptions &globals, const TargetOptions &target_options,
                   const Target &target, const std::string &op, const nlohmann::json &args,
                   const ResultView &view) {
    auto options = globals.resolve();
    FleetConsole console(options);
    auto timeout = std::chrono::milliseconds(std::llround(target_options.timeout_s * 1000.0));
    auto outcome = console.run(target, op, args, timeout);
    return report_outcome(outcome, globals.json, view);
}

} // namespace tierctl
