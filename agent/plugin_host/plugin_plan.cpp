#include "agent/plugin_host/plugin_plan.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>

#include "agent/config/default_config.hpp"
#include "agent/plugin_host/plugin_config.hpp"

namespace tierd {
namespace {

// The line in config/tierd.toml after which everything is rendered from the plugins'
// declarations; --print-default-config regenerates what follows it.
constexpr std::string_view kGeneratedMarker =
    "# ---- Generated from each default plugin's declared keys";

const toml::node *document_node(const Config &config, std::string_view section,
                                std::string_view key) {
    const toml::table *table = config.document[section].as_table();
    if (table == nullptr)
        return nullptr;
    return table->get(key);
}

// The plugin's table with its source positions: from the parsed document when it is
// still there (toml++ drops positions when a table is copied), else the copy.
const toml::table *plugin_table(const Config &config, const std::string &name) {
    if (const toml::node *n = document_node(config, "plugin", name))
        return n->as_table();
    auto it = config.plugin_tables.find(name);
    return it == config.plugin_tables.end() ? nullptr : &it->second;
}

ConfigError error_at(const Config &config, const toml::node *node, std::string key_path,
                     std::string message) {
    ConfigError e;
    e.file = config.source_file;
    if (node != nullptr && node->source().begin) {
        if (node->source().path)
            e.file = *node->source().path;
        e.line = static_cast<int>(node->source().begin.line);
        e.column = static_cast<int>(node->source().begin.column);
    }
    e.key_path = std::move(key_path);
    e.message = std::move(message);
    return e;
}

std::string search_path_text(const std::vector<std::string> &dirs) {
    std::string out = "[";
    for (std::size_t i = 0; i < dirs.size(); ++i)
        out += (i ? ", " : "") + dirs[i];
    return out + "]";
}

bool under(const std::filesystem::path &path, const std::filesystem::path &dir) {
    auto rel = path.lexically_relative(dir);
    return !rel.empty() && *rel.begin() != "..";
}

} // namespace

const std::vector<PluginSlot> &plugin_slots() {
    static const std::vector<PluginSlot> slots = {
        {"scheduler", TIERD_KIND_SCHEDULER},
        {"preclassifier", TIERD_KIND_PRECLASSIFIER},
        {"inference", TIERD_KIND_INFERENCE},
        {"fusion", TIERD_KIND_FUSION},
    };
    return slots;
}

const PluginSlot &slot_for(tierd_plugin_kind kind) {
    for (const auto &slot : plugin_slots())
        if (slot.kind == kind)
            return slot;
    return plugin_slots().front();
}

std::string &configured_name(PluginsConfig &plugins, tierd_plugin_kind kind) {
    switch (kind) {
    case TIERD_KIND_SCHEDULER: return plugins.scheduler;
    case TIERD_KIND_PRECLASSIFIER: return plugins.preclassifier;
    case TIERD_KIND_INFERENCE: return plugins.inference;
    case TIERD_KIND_FUSION: return plugins.fusion;
    }
    return plugins.scheduler;
}

const std::string &configured_name(const PluginsConfig &plugins, tierd_plugin_kind kind) {
    return configured_name(const_cast<PluginsConfig &>(plugins), kind);
}

std::vector<std::string> plugin_search_path(const PluginsConfig &plugins) {
    if (!plugins.search_path.empty())
        return plugins.search_path;
    std::error_code ec;
    auto exe = std::filesystem::canonical("/proc/self/exe", ec);
    auto build = std::filesystem::weakly_canonical(TIERD_BUILD_DIR, ec);
    if (!exe.empty() && under(exe, build))
        return {TIERD_BUILD_PLUGIN_DIR};
    return {TIERD_INSTALL_PLUGIN_DIR};
}

std::string PluginRefusal::to_string() const {
    return (path.empty() ? name : path) + ": " + reason;
}

nlohmann::json PluginRefusal::to_json() const {
    nlohmann::json j = {{"name", name}, {"reason", reason}};
    if (!slot.empty())
        j["slot"] = slot;
    if (!path.empty())
        j["path"] = path;
    return j;
}

PrepareResult prepare_plugin(const Config &config, const std::string &name,
                             std::optional<tierd_plugin_kind> kind) {
    PrepareResult r;
    auto refuse = [&](std::string path, std::string reason) {
        r.refusal = PluginRefusal{name, kind ? slot_for(*kind).key : "", std::move(path),
                                  std::move(reason)};
        return r;
    };
    const auto dirs = plugin_search_path(config.plugins);
    auto path = find_plugin(name, dirs);
    if (!path)
        return refuse("", "no " + name + ".so on the plugin search path " + search_path_text(dirs));
    auto opened = PluginLibrary::open(*path);
    if (!opened.ok()) {
        // open() names the file itself; keep only the reason.
        std::string reason = opened.error;
        if (reason.rfind(*path + ": ", 0) == 0)
            reason.erase(0, path->size() + 2);
        return refuse(*path, reason);
    }
    const PluginDescriptor &d = opened.library->descriptor();
    if (d.name != name)
        return refuse(*path, "the file calls itself '" + d.name + "', not '" + name + "'");
    if (kind && d.kind != *kind)
        return refuse(*path, std::string("is a ") + plugin_kind_name(d.kind) +
                                 " plugin, configured as plugins." + slot_for(*kind).key);
    auto validated = validate_plugin_config(d, plugin_table(config, name), config.source_file);
    if (!validated.ok()) {
        r.errors = std::move(validated.errors);
        return refuse(*path, "its [plugin." + name + "] table is invalid");
    }
    r.plugin = PreparedPlugin{opened.library, std::move(*validated.values)};
    return r;
}

PluginPlan plan_plugins(const Config &config) {
    PluginPlan plan;
    std::set<std::string> planned;
    for (const auto &slot : plugin_slots()) {
        const std::string &name = configured_name(config.plugins, slot.kind);
        if (name.empty())
            continue;
        planned.insert(name);
        auto prepared = prepare_plugin(config, name, slot.kind);
        plan.errors.insert(plan.errors.end(), prepared.errors.begin(), prepared.errors.end());
        if (prepared.plugin)
            plan.ready.push_back(std::move(*prepared.plugin));
        else if (prepared.errors.empty())
            plan.refused.push_back(std::move(*prepared.refusal));
    }
    // Tables of plugins that are not configured now (plugins.load may start them later)
    // are still checked when their plugin can be found.
    for (const auto &[name, table] : config.plugin_tables) {
        if (planned.count(name))
            continue;
        auto prepared = prepare_plugin(config, name);
        plan.errors.insert(plan.errors.end(), prepared.errors.begin(), prepared.errors.end());
        if (!prepared.plugin && prepared.errors.empty())
            plan.warnings.push_back(error_at(config, document_node(config, "plugin", name),
                                             "plugin." + name,
                                             "not checked: " + prepared.refusal->reason));
    }
    return plan;
}

ConfigErrors plan_errors(const Config &config, const PluginPlan &plan) {
    ConfigErrors out = plan.errors;
    for (const auto &refusal : plan.refused) {
        std::string key = "plugins." + refusal.slot;
        out.push_back(error_at(config, document_node(config, "plugins", refusal.slot), key,
                               "plugin '" + refusal.name + "' cannot be loaded: " +
                                   (refusal.path.empty() ? refusal.reason : refusal.to_string())));
    }
    std::stable_sort(out.begin(), out.end(), [](const ConfigError &a, const ConfigError &b) {
        return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
    });
    return out;
}

std::string default_config_with_plugins() {
    std::string_view text = default_config_text();
    std::string out(text.substr(0, text.find(kGeneratedMarker)));
    out += kGeneratedMarker;
    out += " (tierd --print-default-config).\n"
           "# ---- Each section lists every key its plugin accepts, at its default.\n";
    auto loaded = load_default_config();
    if (!loaded.ok())
        return out; // cannot happen: a test keeps the embedded default valid
    const Config &config = *loaded.config;
    for (const auto &slot : plugin_slots()) {
        const std::string &name = configured_name(config.plugins, slot.kind);
        if (name.empty())
            continue;
        out += "\n";
        auto path = find_plugin(name, plugin_search_path(config.plugins));
        auto opened = path ? PluginLibrary::open(*path) : PluginLibrary::OpenResult{};
        if (!opened.ok()) {
            out += "# [plugin." + name + "]: not shown, the plugin cannot be loaded (" +
                   (path ? opened.error : "not on the search path") + ")\n";
            continue;
        }
        out += render_default_toml(opened.library->descriptor());
    }
    return out;
}

} // namespace tierd
