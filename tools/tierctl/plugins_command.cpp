// `tierctl plugins list|load|unload`: the plugins.* commands.
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"
#include "tools/tierctl/table.hpp"

#include <fmt/format.h>

#include <iostream>

namespace tierctl {

namespace {

struct PluginsOptions {
    TargetOptions target;
    std::vector<std::string> words;
};

std::string text(const nlohmann::json &entry, const char *key) {
    auto it = entry.find(key);
    if (it == entry.end() || it->is_null())
        return "-";
    return it->is_string() ? it->get<std::string>() : it->dump();
}

std::vector<std::string> names(const nlohmann::json &result, const char *list) {
    std::vector<std::string> out;
    for (const auto &entry : result.value(list, nlohmann::json::array()))
        if (entry.is_object())
            out.push_back(text(entry, "name"));
    return out;
}

ResultView list_view() {
    ResultView view;
    view.cell = [](const nlohmann::json &result) {
        std::string cell = fmt::format("{}", fmt::join(names(result, "loaded"), ","));
        if (auto refused = names(result, "refused"); !refused.empty())
            cell += fmt::format(" (refused: {})", fmt::join(refused, ","));
        return cell.empty() ? std::string("-") : cell;
    };
    view.single = [](std::ostream &out, const nlohmann::json &result) {
        Table table({"SLOT", "NAME", "KIND", "VERSION", "ABI", "STATE", "DETAIL"});
        for (const auto &p : result.value("loaded", nlohmann::json::array()))
            table.add({text(p, "slot"), text(p, "name"), text(p, "kind"), text(p, "version"),
                       text(p, "abi"), "loaded", text(p, "path")});
        for (const auto &p : result.value("refused", nlohmann::json::array()))
            table.add(
                {text(p, "slot"), text(p, "name"), "-", "-", "-", "refused", text(p, "reason")});
        if (table.empty())
            out << "no plugins loaded or refused\n";
        else
            table.print(out);
        if (result.value("loading", nlohmann::json(false)) == true)
            out << "(the start-up load is still running)\n";
    };
    return view;
}

int run_plugins(const GlobalOptions &globals, PluginsOptions options, const std::string &verb) {
    Target target = take_target(options.target, options.words);
    if (verb == "list") {
        if (!options.words.empty())
            throw UsageError("plugins list takes no NAME");
        return run_and_report(globals, options.target, target, "plugins.list", {}, list_view());
    }
    if (options.words.size() != 1)
        throw UsageError("plugins " + verb + " takes one plugin NAME (e.g. fusion-passthrough)");
    ResultView view;
    if (verb == "load") {
        view.cell = [](const nlohmann::json &p) {
            return fmt::format("loaded {} {} in slot {}", text(p, "name"), text(p, "version"),
                               text(p, "slot"));
        };
    } else {
        view.cell = [](const nlohmann::json &r) { return "unloaded " + text(r, "unloaded"); };
    }
    view.single = [cell = view.cell](std::ostream &out, const nlohmann::json &result) {
        out << cell(result) << "\n";
    };
    return run_and_report(globals, options.target, target, "plugins." + verb,
                          {{"name", options.words.front()}}, view);
}

} // namespace

Runner add_plugins_command(CLI::App &app, const GlobalOptions &globals) {
    auto *command = app.add_subcommand("plugins", "List, load or unload plugins (plugins.list, "
                                                  "plugins.load, plugins.unload)");
    command->require_subcommand(1);
    command->footer(kExitCodesHelp);
    struct Verb {
        CLI::App *app;
        std::shared_ptr<PluginsOptions> options;
    };
    auto verbs = std::make_shared<std::vector<std::pair<std::string, Verb>>>();
    const std::pair<const char *, const char *> specs[] = {
        {"list", "Show the loaded and the refused plugins"},
        {"load", "Load plugin NAME (found by name on the device's search path) and start it"},
        {"unload", "Stop and unload plugin NAME"}};
    for (const auto &[verb, help] : specs) {
        auto options = std::make_shared<PluginsOptions>();
        auto *sub = command->add_subcommand(verb, help);
        sub->add_option("words", options->words,
                        std::string(verb) == "list" ? "[DEVICE]: unless --group/--all"
                                                    : "[DEVICE] NAME: DEVICE unless --group/--all");
        add_target_options(sub, options->target);
        sub->footer(kExitCodesHelp);
        verbs->push_back({verb, {sub, options}});
    }
    return [&globals, verbs] {
        for (const auto &[verb, v] : *verbs)
            if (v.app->parsed())
                return run_plugins(globals, *v.options, verb);
        throw UsageError("plugins: name list, load or unload");
    };
}

} // namespace tierctl
