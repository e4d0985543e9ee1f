// `tierctl models list|push|activate|rollback|unpin`: the models.* commands (docs/models.md).
// push reads a model file, and sends it in chunks (models.update, base64) to a device, a
// group or the fleet, one chunk after the other once every addressed device has taken the
// one before; the last chunk's replies say whether each device verified, activated, or
// rolled the version back.
#include "common/base64.hpp"
#include "common/sha256.hpp"
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"
#include "tools/tierctl/fleet_console.hpp"
#include "tools/tierctl/table.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>

namespace tierctl {

namespace {

struct ModelsOptions {
    TargetOptions target;
    std::vector<std::string> words;
    std::string name, version;
    bool no_activate = false;
    bool no_check = false;
    std::size_t chunk_bytes = 192 * 1024;
};

std::string text(const nlohmann::json &entry, const char *key) {
    auto it = entry.find(key);
    if (it == entry.end() || it->is_null())
        return "-";
    return it->is_string() ? (it->get<std::string>().empty() ? "-" : it->get<std::string>())
                           : it->dump();
}

// One cell per model: "cnn-xs 2 (pinned; was 1)".
ResultView list_view() {
    ResultView view;
    view.cell = [](const nlohmann::json &result) {
        std::vector<std::string> cells;
        const nlohmann::json models = result.value("models", nlohmann::json::object());
        for (const auto &[name, m] : models.items())
            cells.push_back(fmt::format(
                "{} {}{}", name, m.value("active", "").empty() ? "shipped" : m.value("active", ""),
                m.value("pinned", false) ? " (pinned)" : ""));
        return cells.empty() ? std::string("all shipped")
                             : fmt::format("{}", fmt::join(cells, ", "));
    };
    view.single = [](std::ostream &out, const nlohmann::json &result) {
        Table table({"MODEL", "VERSION", "STATE", "BYTES", "SHA256", "RECEIVED", "NOTE"});
        const nlohmann::json models = result.value("models", nlohmann::json::object());
        for (const auto &[name, m] : models.items()) {
            const std::string active = m.value("active", "");
            table.add({name, "shipped", active.empty() ? "active" : "-", "-", "-", "-",
                       "the manifest's own file"});
            const nlohmann::json versions = m.value("versions", nlohmann::json::object());
            for (const auto &[version, v] : versions.items()) {
                std::string state = version == active ? "active" : "stored";
                if (version == active && m.value("pinned", false))
                    state += ",pinned";
                if (v.value("rejected", false))
                    state = "rejected";
                if (version == m.value("previous", "") && version != active)
                    state += ",previous";
                table.add({name, version, state, text(v, "bytes"),
                           v.value("sha256", "").substr(0, 12), text(v, "received_at"),
                           text(v, "note")});
            }
        }
        if (table.empty())
            out << "no model updates here: every model is the shipped one\n";
        else
            table.print(out);
        out << "manifest in use: " << text(result, "manifest") << "\n";
    };
    return view;
}

ResultView activation_view() {
    ResultView view;
    view.cell = [](const nlohmann::json &r) {
        std::string cell = r.value("activated", false) ? "active: " : "stored: ";
        cell += r.value("name", "") + " " +
                (r.value("version", "").empty() ? "shipped" : r.value("version", ""));
        if (r.contains("held_back"))
            cell += fmt::format(" (held-back {:.1f}%, was {:.1f}%)",
                                100 * r["held_back"].value("after", -0.01),
                                100 * r["held_back"].value("before", -0.01));
        if (r.contains("why"))
            cell += " — " + r.value("why", "");
        return cell;
    };
    view.single = [cell = view.cell](std::ostream &out, const nlohmann::json &r) {
        out << cell(r) << "\n";
    };
    return view;
}

int push(const GlobalOptions &globals, ModelsOptions &options, const Target &target) {
    if (options.words.size() != 1)
        throw UsageError("models push takes one model FILE");
    if (options.name.empty() || options.version.empty())
        throw UsageError("models push needs --name (the manifest's model) and --version");
    std::ifstream in(options.words.front(), std::ios::binary);
    if (!in)
        throw UsageError(options.words.front() + ": cannot open");
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty())
        throw UsageError(options.words.front() + ": empty file");
    const std::string digest = tierd::sha256_hex(bytes);
    FleetConsole console(globals.resolve());
    const auto timeout = std::chrono::milliseconds(std::llround(options.target.timeout_s * 1000.0));
    const std::size_t chunk = std::max<std::size_t>(1024, options.chunk_bytes);
    for (std::size_t offset = 0; offset < bytes.size(); offset += chunk) {
        const std::size_t n = std::min(chunk, bytes.size() - offset);
        const bool last = offset + n == bytes.size();
        nlohmann::json args = {
            {"name", options.name}, {"version", options.version},
            {"sha256", digest},     {"size", bytes.size()},
            {"offset", offset},     {"data", tierd::encode_base64(bytes.data() + offset, n)}};
        if (last)
            args["activate"] = !options.no_activate;
        // The last chunk's reply comes after the activation and its held-back check.
        auto outcome = console.run(target, "models.update", args, last ? timeout * 12 : timeout);
        if (last || outcome.exit_code() != 0) {
            if (!last)
                std::cerr << fmt::format("models push: stopped at byte {} of {}\n", offset,
                                         bytes.size());
            return report_outcome(outcome, globals.json, activation_view());
        }
    }
    return kExitFailure; // not reached: the loop returns on its last chunk
}

int run_models(const GlobalOptions &globals, ModelsOptions options, const std::string &verb) {
    Target target = take_target(options.target, options.words);
    if (verb == "list") {
        if (!options.words.empty())
            throw UsageError("models list takes no other argument");
        return run_and_report(globals, options.target, target, "models.list", {}, list_view());
    }
    if (verb == "push")
        return push(globals, options, target);
    if (verb == "activate") {
        if (options.words.size() != 2)
            throw UsageError("models activate takes NAME VERSION (\"shipped\" for the manifest's "
                             "own file)");
        const std::string version = options.words[1] == "shipped" ? "" : options.words[1];
        TargetOptions slow = options.target;
        slow.timeout_s *= 12; // the activation measures the held-back buffer twice
        return run_and_report(
            globals, slow, target, "models.activate",
            {{"name", options.words[0]}, {"version", version}, {"check", !options.no_check}},
            activation_view());
    }
    if (options.words.size() != 1)
        throw UsageError("models " + verb + " takes one model NAME");
    if (verb == "rollback") {
        TargetOptions slow = options.target;
        slow.timeout_s *= 12;
        return run_and_report(globals, slow, target, "models.rollback",
                              {{"name", options.words[0]}}, activation_view());
    }
    return run_and_report(globals, options.target, target, "models.unpin",
                          {{"name", options.words[0]}});
}

} // namespace

Runner add_models_command(CLI::App &app, const GlobalOptions &globals) {
    auto *command = app.add_subcommand(
        "models", "Model versions on the devices: list them, push an update, activate (pin) a "
                  "version, roll back, unpin (models.* commands, docs/models.md)");
    command->require_subcommand(1);
    command->footer(kExitCodesHelp);
    struct Verb {
        CLI::App *app;
        std::shared_ptr<ModelsOptions> options;
    };
    auto verbs = std::make_shared<std::vector<std::pair<std::string, Verb>>>();
    const std::tuple<const char *, const char *, const char *> specs[] = {
        {"list", "Show each model's stored versions, which is active, pinned or rejected",
         "[DEVICE]: unless --group/--all"},
        {"push",
         "Send model FILE as version --version of model --name, in chunks; the devices verify "
         "its sha256, activate it (unless pinned or --no-activate) and roll it back when it does "
         "worse on their held-back buffer",
         "[DEVICE] FILE"},
        {"activate",
         "Activate (and pin) stored VERSION of model NAME; \"shipped\" = the "
         "manifest's own file",
         "[DEVICE] NAME VERSION"},
        {"rollback", "Go back to the version before (and pin it); no held-back check",
         "[DEVICE] NAME"},
        {"unpin", "Let pushed updates activate again", "[DEVICE] NAME"}};
    for (const auto &[verb, help, words] : specs) {
        auto options = std::make_shared<ModelsOptions>();
        auto *sub = command->add_subcommand(verb, help);
        sub->add_option("words", options->words, words);
        add_target_options(sub, options->target);
        if (std::string(verb) == "push") {
            sub->add_option("--name,-n", options->name, "The model's name in the manifest")
                ->required();
            sub->add_option("--version,-V", options->version, "The version this file is")
                ->required();
            sub->add_flag("--no-activate", options->no_activate, "Store and verify only");
            sub->add_option("--chunk-bytes", options->chunk_bytes,
                            "Bytes per models.update message (before base64; default 196608)");
        }
        if (std::string(verb) == "activate")
            sub->add_flag("--no-check", options->no_check, "Skip the held-back accuracy check");
        sub->footer(kExitCodesHelp);
        verbs->push_back({verb, {sub, options}});
    }
    return [&globals, verbs] {
        for (const auto &[verb, v] : *verbs)
            if (v.app->parsed())
                return run_models(globals, *v.options, verb);
        throw UsageError("models: name list, push, activate, rollback or unpin");
    };
}

} // namespace tierctl
