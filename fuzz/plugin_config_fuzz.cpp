// libFuzzer harness: a plugin's [plugin.<name>] table checked against the keys the
// plugin declared (validate_plugin_config: unknown keys, TOML types, ranges, enum
// choices, MUST_EXIST paths, secrets never quoted). The declaration is fixed: the
// inference-opencv plugin's kinds of keys (plugins/inference-opencv) plus a secret one,
// copied through copy_config_keys as the host copies a loaded plugin's map.
// The input is a whole TOML document; its [plugin.fuzz] table (if any) is validated,
// and so is every other plugin.* table, as if the same plugin had that name.
// Properties: never a crash or UB; accepted values pass check_value; a secret value
// never appears in an error message.
#include "agent/plugin_host/plugin_config.hpp"

#include <tierd/plugin.hpp>
#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

namespace {

constexpr const char *kBackends[] = {"cpu", "opencl", "cuda", nullptr};
constexpr const char *kSecret = "s3cr3t-fuzz-value";

const tierd::PluginDescriptor &descriptor() {
    static const tierd::PluginDescriptor d = [] {
        static constexpr tierd_config_key keys[] = {
            tierd::key_path("model", "", "model file", TIERD_CONFIG_MUST_EXIST),
            tierd::key_path("labels", "", "labels file"),
            tierd::key_string("models", "", "comma-separated names"),
            tierd::key_int("input_width", "224", 1, 8192, "width"),
            tierd::key_int("input_channels", "3", 1, 3, "channels"),
            tierd::key_double("scale", "0.00392156862745098", 0.0, 1e6, "scale"),
            tierd::key_double("mean", "0", -1e6, 1e6, "mean"),
            tierd::key_bool("swap_rb", "false", "swap"),
            tierd::key_enum("backend", "cpu", kBackends, "backend"),
            tierd::key_string("token", "", "an API token", TIERD_CONFIG_SECRET),
        };
        auto copied =
            tierd::copy_config_keys(keys, sizeof keys / sizeof keys[0], sizeof(tierd_config_key));
        if (!copied.error.empty())
            std::abort(); // the fixed declaration itself must be valid
        tierd::PluginDescriptor out;
        out.name = "fuzz";
        out.kind = TIERD_KIND_INFERENCE;
        out.config_keys = std::move(copied.keys);
        return out;
    }();
    return d;
}

void check(const tierd::PluginDescriptor &plugin, const toml::table *table) {
    auto result = tierd::validate_plugin_config(plugin, table, "fuzz.toml");
    if (result.ok() == !result.errors.empty())
        std::abort();
    if (result.ok()) {
        for (const auto &key : plugin.config_keys) {
            const auto *entry = result.values->find(key.name);
            if (entry == nullptr || tierd::check_value(key, entry->value))
                std::abort(); // every declared key resolved to a value that passes
        }
        (void)result.values->redacted_json().dump();
        return;
    }
    // A secret's value is never quoted back, whatever else is wrong. Non-secret values are
    // quoted (a missing model path is named), so the secret text may appear in a message
    // only where some non-secret value holds it too (found by the long run: a model path
    // with the token's text inside it).
    const toml::node *token = table ? table->get("token") : nullptr;
    if (token == nullptr || token->value_exact<std::string>() != std::string(kSecret))
        return;
    std::ostringstream quoted; // what the errors may name: the table's name, keys, values
    quoted << plugin.name;
    for (const auto &[key, node] : *table)
        if (key.str() != "token")
            node.visit([&, &k = key](const auto &n) { quoted << ' ' << k.str() << ' ' << n; });
    const bool elsewhere = quoted.str().find(kSecret) != std::string::npos;
    if (!elsewhere)
        for (const auto &e : result.errors)
            if (e.to_string().find(kSecret) != std::string::npos)
                std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    toml::table doc;
    try {
        doc = toml::parse(text, std::string_view("fuzz.toml"));
    } catch (const toml::parse_error &) {
        return 0;
    }
    tierd::PluginDescriptor plugin = descriptor();
    check(plugin, nullptr); // no table: every default
    const toml::table *plugins = doc["plugin"].as_table();
    if (plugins == nullptr)
        return 0;
    for (const auto &[name, node] : *plugins) {
        plugin.name = std::string(name.str());
        check(plugin, node.as_table());
    }
    return 0;
}
