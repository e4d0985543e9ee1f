#include "agent/plugin_host/plugin_plan.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>

#include "agent/config/core_config_toml.hpp"
#include "agent/config/default_config.hpp"
#include "agent/plugin_host/plugin_config.hpp"

namespace tierd {
namespace {

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

// The [source] keys a source plugin receives as its own when it declares them and its
// [plugin.<name>] table does not set them (validated where they stand, in the document).
std::vector<InheritedKey> source_keys_for_plugin(const Config &config) {
    std::vector<InheritedKey> keys;
    const toml::table *source = config.document["source"].as_table();
    for (std::string_view key : {"path", "labels"})
        if (const toml::node *value = source != nullptr ? source->get(key) : nullptr)
            keys.push_back({std::string(key), value});
    return keys;
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
        {"source", TIERD_KIND_SOURCE, "source.kind"},
        {"scheduler", TIERD_KIND_SCHEDULER, "plugins.scheduler"},
        {"preclassifier", TIERD_KIND_PRECLASSIFIER, "plugins.preclassifier"},
        {"inference", TIERD_KIND_INFERENCE, "plugins.inference"},
        {"fusion", TIERD_KIND_FUSION, "plugins.fusion"},
    };
    return slots;
}

const PluginSlot &slot_for(tierd_plugin_kind kind) {
    for (const auto &slot : plugin_slots())
        if (slot.kind == kind)
            return slot;
    return plugin_slots().front();
}

std::string configured_plugin(const Config &config, tierd_plugin_kind kind) {
    switch (kind) {
    case TIERD_KIND_SOURCE: return source_plugin_name(config.source);
    case TIERD_KIND_SCHEDULER: return config.plugins.scheduler;
    case TIERD_KIND_PRECLASSIFIER: return config.plugins.preclassifier;
    case TIERD_KIND_INFERENCE: return config.plugins.inference;
    case TIERD_KIND_FUSION: return config.plugins.fusion;
    }
    return "";
}

bool set_configured_plugin(Config &config, tierd_plugin_kind kind, const std::string &name) {
    switch (kind) {
    case TIERD_KIND_SOURCE: return false; // [source] kind picks it
    case TIERD_KIND_SCHEDULER: config.plugins.scheduler = name; return true;
    case TIERD_KIND_PRECLASSIFIER: config.plugins.preclassifier = name; return true;
    case TIERD_KIND_INFERENCE: config.plugins.inference = name; return true;
    case TIERD_KIND_FUSION: config.plugins.fusion = name; return true;
    }
    return false;
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
                                 " plugin, configured as " + slot_for(*kind).config_key);
    const bool configured_source =
        d.kind == TIERD_KIND_SOURCE && name == source_plugin_name(config.source);
    auto validated = validate_plugin_config(d, plugin_table(config, name), config.source_file,
                                            configured_source ? source_keys_for_plugin(config)
                                                              : std::vector<InheritedKey>{},
                                            "source.");
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
        const std::string name = configured_plugin(config, slot.kind);
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
        const PluginSlot *slot = nullptr;
        for (const auto &candidate : plugin_slots())
            if (refusal.slot == candidate.key)
                slot = &candidate;
        const std::string key = slot != nullptr ? slot->config_key : "plugins." + refusal.slot;
        const toml::node *node = slot != nullptr && slot->kind == TIERD_KIND_SOURCE
                                     ? document_node(config, "source", "kind")
                                     : document_node(config, "plugins", refusal.slot);
        out.push_back(error_at(config, node, key,
                               "plugin '" + refusal.name + "' cannot be loaded: " +
                                   (refusal.path.empty() ? refusal.reason : refusal.to_string())));
    }
    std::stable_sort(out.begin(), out.end(), [](const ConfigError &a, const ConfigError &b) {
        return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
    });
    return out;
}

std::string default_config_with_plugins() {
    std::string out = render_core_config_toml();
    out += kPluginSectionsHeading;
    out += " (tierd --print-default-config).\n"
           "# ---- Each section lists every key its plugin accepts, at its default.\n";
    auto loaded = load_default_config();
    if (!loaded.ok())
        return out; // cannot happen: a test keeps the embedded default valid
    const Config &config = *loaded.config;
    for (const auto &slot : plugin_slots()) {
        const std::string name = configured_plugin(config, slot.kind);
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
