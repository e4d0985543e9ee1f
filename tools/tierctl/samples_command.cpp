// `tierctl samples list|pull`: the labelled samples a serving tier keeps of the images it
// answered ([offload] keep_answered; samples.* commands, docs/adaptation.md). pull writes
// one device's samples as IDX files — what tools/adapt/finetune.py trains on.
#include "common/base64.hpp"
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"
#include "tools/tierctl/fleet_console.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace tierctl {

namespace {

struct SamplesOptions {
    TargetOptions target;
    std::vector<std::string> words;
    std::string of, out;
    std::uint64_t max = 0;
};

// Writes `bytes` to `path` through a temporary name, so a file that exists is whole.
void write_file(const std::filesystem::path &path, const std::string &bytes) {
    const std::filesystem::path tmp = path.string() + ".part";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out.flush())
            throw std::runtime_error(tmp.string() + ": cannot write");
    }
    std::filesystem::rename(tmp, path);
}

int pull(const GlobalOptions &globals, const SamplesOptions &options, const Target &target) {
    if (target.kind != Target::Kind::device)
        throw UsageError("samples pull reads from one device (no --group/--all)");
    if (options.of.empty() || options.out.empty())
        throw UsageError("samples pull needs --of (the device the samples came from) and --out");
    nlohmann::json args = {{"device", options.of}};
    if (options.max > 0)
        args["max"] = options.max;
    FleetConsole console(globals.resolve());
    const auto timeout = std::chrono::milliseconds(std::llround(options.target.timeout_s * 1000.0));
    auto outcome = console.run(target, "samples.get", args, timeout);
    if (outcome.exit_code() != 0 || outcome.replies.empty())
        return report_outcome(outcome, globals.json);
    const nlohmann::json &result = outcome.replies.front().reply.at("result");
    std::string images, labels;
    if (!tierd::decode_base64(result.value("images_idx", ""), images) ||
        !tierd::decode_base64(result.value("labels_idx", ""), labels)) {
        std::cerr << "samples pull: the reply's IDX data is not base64\n";
        return kExitFailure;
    }
    const std::uint64_t count = result.value("count", std::uint64_t{0});
    const std::filesystem::path dir(options.out);
    std::filesystem::create_directories(dir);
    write_file(dir / "images-idx3-ubyte", images);
    write_file(dir / "labels-idx1-ubyte", labels);
    nlohmann::json about = result;
    about.erase("images_idx");
    about.erase("labels_idx");
    about["from"] = target.name;
    write_file(dir / "samples.json", about.dump() + "\n");
    if (globals.json)
        std::cout << nlohmann::json{{"device", target.name},
                                    {"of", options.of},
                                    {"count", count},
                                    {"out", dir.string()}}
                         .dump()
                  << "\n";
    else
        std::cout << fmt::format("{} samples of {} from {} ({}x{}) -> {}\n", count, options.of,
                                 target.name, result.value("rows", 0), result.value("cols", 0),
                                 dir.string());
    return count > 0 ? kExitOk : kExitFailure;
}

ResultView list_view() {
    ResultView view;
    view.cell = [](const nlohmann::json &r) {
        std::string cell = fmt::format("keeping {} per device", r.value("capacity", 0));
        const nlohmann::json devices = r.value("devices", nlohmann::json::object());
        for (const auto &[id, n] : devices.items())
            cell += fmt::format(", {}: {}", id, n.dump());
        return cell;
    };
    view.single = [cell = view.cell](std::ostream &out, const nlohmann::json &r) {
        out << cell(r) << "\n";
    };
    return view;
}

} // namespace

Runner add_samples_command(CLI::App &app, const GlobalOptions &globals) {
    auto *command = app.add_subcommand(
        "samples", "The labelled samples an edge or cloud agent keeps of the images it answered "
                   "([offload] keep_answered; samples.* commands, docs/adaptation.md)");
    command->require_subcommand(1);
    command->footer(kExitCodesHelp);
    auto list_options = std::make_shared<SamplesOptions>();
    auto *list = command->add_subcommand("list", "How many samples each serving agent keeps, "
                                                 "per device they came from");
    list->add_option("words", list_options->words, "[DEVICE]: unless --group/--all");
    add_target_options(list, list_options->target);
    list->footer(kExitCodesHelp);
    auto pull_options = std::make_shared<SamplesOptions>();
    auto *pull_cmd = command->add_subcommand(
        "pull", "Write the samples DEVICE keeps of device --of as IDX files in --out "
                "(images-idx3-ubyte, labels-idx1-ubyte = DEVICE's answers, samples.json)");
    pull_cmd->add_option("words", pull_options->words, "DEVICE: the edge or cloud agent");
    pull_cmd->add_option("--of", pull_options->of, "The device whose images these are")->required();
    pull_cmd->add_option("--out,-o", pull_options->out, "Folder to write (created)")->required();
    pull_cmd->add_option("--max", pull_options->max, "Only the last N samples (default all)");
    add_target_options(pull_cmd, pull_options->target);
    pull_cmd->footer(kExitCodesHelp);
    return [&globals, list, list_options, pull_options] {
        if (list->parsed()) {
            Target target = take_target(list_options->target, list_options->words);
            if (!list_options->words.empty())
                throw UsageError("samples list takes no other argument");
            return run_and_report(globals, list_options->target, target, "samples.list", {},
                                  list_view());
        }
        Target target = take_target(pull_options->target, pull_options->words);
        if (!pull_options->words.empty())
            throw UsageError("samples pull takes one DEVICE");
        return pull(globals, *pull_options, target);
    };
}

} // namespace tierctl
