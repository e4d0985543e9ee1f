#include "agent/config/config_overrides.hpp"

#include <optional>
#include <sstream>
#include <string_view>
#include <utility>

namespace tierd {
namespace {

std::optional<toml::table> parse_line(const std::string &line, const std::string &source) {
#if TOML_EXCEPTIONS
    try {
        return toml::parse(line, source);
    } catch (const toml::parse_error &) {
        return std::nullopt;
    }
#else
    auto r = toml::parse(line, source);
    if (!r)
        return std::nullopt;
    return std::move(r).table();
#endif
}

// Moves every node of `src` into `dst`, merging tables and replacing everything else.
// Moving (not copying) keeps the nodes' "--set KEY" source information.
void merge(toml::table &dst, toml::table &src) {
    for (auto &[k, node] : src) {
        toml::node *existing = dst.get(k.str());
        if (existing != nullptr && existing->is_table() && node.is_table()) {
            merge(*existing->as_table(), *node.as_table());
            continue;
        }
        // An init-capture: clang 14 cannot capture a structured binding by name.
        node.visit([&dst, &key = k](auto &&n) { dst.insert_or_assign(key, std::move(n)); });
    }
}

// The first dotted-key prefix of `doc` that exists but is not a table, if any.
std::optional<std::string> blocked_prefix(const toml::table &doc, const toml::table &src,
                                          const std::string &prefix) {
    for (const auto &[k, node] : src) {
        std::string p = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
        const toml::node *existing = doc.get(k.str());
        if (existing == nullptr || !node.is_table())
            continue;
        if (!existing->is_table())
            return p;
        if (auto inner = blocked_prefix(*existing->as_table(), *node.as_table(), p))
            return inner;
    }
    return std::nullopt;
}

} // namespace

ConfigErrors apply_overrides(toml::table &document, const std::vector<std::string> &overrides) {
    ConfigErrors errors;
    for (const auto &ov : overrides) {
        auto eq = ov.find('=');
        std::string key = ov.substr(0, eq);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t'))
            key.pop_back();
        while (!key.empty() && (key.front() == ' ' || key.front() == '\t'))
            key.erase(0, 1);
        const std::string source = "--set " + key;
        auto fail = [&](std::string msg) {
            errors.push_back(ConfigError{source, 0, 0, key, std::move(msg)});
        };
        if (eq == std::string::npos || key.empty()) {
            fail("expected KEY=VALUE");
            continue;
        }
        std::string value = ov.substr(eq + 1);
        if (key.find_first_of("\n\r#") != std::string::npos) {
            fail("invalid key");
            continue;
        }
        std::optional<toml::table> parsed;
        if (value.find_first_of("\n\r") == std::string::npos)
            parsed = parse_line(key + " = " + value, source);
        if (!parsed) {
            // Not a TOML value: take it verbatim as a string.
            std::ostringstream quoted;
            quoted << toml::value<std::string>(value);
            parsed = parse_line(key + " = " + quoted.str(), source);
        }
        if (!parsed) {
            fail("invalid key (expected a dotted TOML key such as mqtt.port)");
            continue;
        }
        if (auto blocked = blocked_prefix(document, *parsed, "")) {
            fail("cannot set a key inside '" + *blocked + "', which is not a table");
            continue;
        }
        merge(document, *parsed);
    }
    return errors;
}

} // namespace tierd
