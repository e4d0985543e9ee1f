#include "agent/config/config_loader.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#include "agent/config/config_overrides.hpp"
#include "agent/config/core_config_keys.hpp"

namespace tierd {
namespace {

// Records errors against the node they are about: its file, line and column.
class ErrorSink {
  public:
    ErrorSink(std::string fallback_file, ConfigErrors &errors)
        : fallback_(std::move(fallback_file)), errors_(errors) {}

    void operator()(const toml::node *node, std::string key_path, std::string message) {
        errors_.push_back(
            config_error_at(node, fallback_, std::move(key_path), std::move(message)));
    }

  private:
    std::string fallback_;
    ConfigErrors &errors_;
};

std::string dotted(std::string_view section, std::string_view key) {
    return std::string(section) + "." + std::string(key);
}

// "value 65 out of range 0..64": the core's range message (plugin keys say "must be at
// most 64 (got 65)"; tests and scripts match both).
std::string out_of_range(const ConfigKey &key, const ConfigValue &value) {
    auto text = [&](double bound) {
        return key.type == TIERD_CONFIG_INT ? std::to_string(static_cast<std::int64_t>(bound))
                                            : format_number(bound);
    };
    double v = 0;
    std::string shown;
    if (const auto *i = std::get_if<std::int64_t>(&value)) {
        v = static_cast<double>(*i);
        shown = std::to_string(*i);
    } else {
        v = std::get<double>(value);
        shown = format_number(v);
    }
    // Written as !(v >= min) so that NaN fails a range too.
    if ((key.min && !(v >= *key.min)) || (key.max && !(v <= *key.max)))
        return "value " + (key.secret() ? std::string() : shown + " ") + "out of range " +
               (key.min ? text(*key.min) : "") + ".." + (key.max ? text(*key.max) : "");
    return "";
}

// What is wrong with a string value of `key` (one element, for a list): its choices, its
// rule, a MUST_EXIST file. "" when nothing is. Never quotes a secret.
std::string string_problem(const CoreConfigKey &k, const std::string &s) {
    const ConfigKey &key = k.key;
    if (key.type == TIERD_CONFIG_ENUM &&
        std::find(key.choices.begin(), key.choices.end(), s) == key.choices.end()) {
        std::string names;
        for (const auto &c : key.choices)
            names += (names.empty() ? "'" : ", '") + c + "'";
        return key.secret() ? "invalid value, expected one of " + names
                            : "invalid value '" + s + "', expected one of " + names;
    }
    if (k.rule != nullptr && !key.secret()) {
        if (std::string problem = k.rule(s); !problem.empty())
            return problem;
    }
    if (key.must_exist() && !s.empty() && !readable_file(s)) {
        std::error_code ec;
        const std::string shown = key.secret() ? std::string("file") : "file '" + s + "'";
        return std::filesystem::exists(s, ec) ? shown + " is not a readable file"
                                              : shown + " does not exist";
    }
    return "";
}

// One declared key's node: checked, and stored into `config` when every check passes.
void check_key(ErrorSink &error, const CoreConfigKey &k, std::string_view section,
               const toml::node &node, Config &config) {
    const ConfigKey &key = k.key;
    const std::string path = dotted(section, key.name);
    if (key.list) {
        const toml::array *a = node.as_array();
        if (a == nullptr) {
            error(&node, path, wrong_type_message(key, node));
            return;
        }
        std::vector<std::string> items;
        bool ok = true;
        for (std::size_t i = 0; i < a->size(); ++i) {
            const toml::node &el = *a->get(i);
            const std::string el_path = path + "[" + std::to_string(i) + "]";
            auto v = scalar_value(el, key.type);
            if (!v) {
                ConfigKey element = key;
                element.list = false;
                error(&el, el_path, wrong_type_message(element, el));
                ok = false;
                continue;
            }
            if (std::string problem = string_problem(k, std::get<std::string>(*v));
                !problem.empty()) {
                error(&el, el_path, problem);
                ok = false;
                continue;
            }
            items.push_back(std::move(std::get<std::string>(*v)));
        }
        if (ok)
            k.store(config, ConfigValue(std::move(items)));
        return;
    }
    auto value = scalar_value(node, key.type);
    if (!value) {
        error(&node, path, wrong_type_message(key, node));
        return;
    }
    std::string problem;
    if (key.type == TIERD_CONFIG_INT || key.type == TIERD_CONFIG_DOUBLE)
        problem = out_of_range(key, *value);
    else if (const auto *s = std::get_if<std::string>(&*value))
        problem = string_problem(k, *s);
    if (!problem.empty()) {
        error(&node, path, problem);
        return;
    }
    k.store(config, *value);
}

// The table pass: unknown sections and keys, then every declared key that is present.
void check_declared_keys(ErrorSink &error, const toml::table &doc, Config &config) {
    const auto &sections = core_config_sections();
    std::vector<std::string_view> section_names;
    for (const auto &section : sections)
        section_names.emplace_back(section.name);
    section_names.push_back(kPluginTablesKey);
    for (const auto &[name, node] : doc) {
        if (std::find(section_names.begin(), section_names.end(), name.str()) ==
            section_names.end())
            error(&node, std::string(name.str()),
                  "unknown section" + did_you_mean(name.str(), section_names));
    }
    for (const auto &section : sections) {
        const toml::node *n = doc.get(section.name);
        if (n == nullptr)
            continue;
        const toml::table *t = n->as_table();
        if (t == nullptr) {
            error(n, section.name, "expected a table, got " + toml_type_name(*n));
            continue;
        }
        std::vector<std::string_view> key_names;
        for (const auto &k : section.keys)
            key_names.emplace_back(k.key.name);
        for (const auto &[name, node] : *t) {
            if (section.find(name.str()) == nullptr)
                error(&node, dotted(section.name, name.str()),
                      "unknown key" + did_you_mean(name.str(), key_names));
        }
        for (const auto &k : section.keys) {
            if (const toml::node *node = t->get(k.key.name))
                check_key(error, k, section.name, *node, config);
        }
    }
}

const toml::node *node_at(const toml::table &doc, std::string_view section, std::string_view key) {
    const toml::table *t = doc[section].as_table();
    return t == nullptr ? nullptr : t->get(key);
}

// The rules that involve more than one key, on the values the table pass stored.
void check_cross_key_rules(ErrorSink &error, const toml::table &doc, const Config &c) {
    const auto &m = c.mqtt;
    if (m.reconnect_max_ms < m.reconnect_min_ms) {
        const toml::node *n = node_at(doc, "mqtt", "reconnect_max_ms");
        error(n ? n : node_at(doc, "mqtt", "reconnect_min_ms"), "mqtt.reconnect_max_ms",
              "must be >= mqtt.reconnect_min_ms (" + std::to_string(m.reconnect_min_ms) + ")");
    }
    // libmosquitto refuses a certificate without its key (and the reverse) only when the
    // agent connects, and ignores both without a CA: say so before the agent starts.
    if (m.tls_cert_file.empty() != m.tls_key_file.empty()) {
        const bool cert = !m.tls_cert_file.empty();
        error(node_at(doc, "mqtt", cert ? "tls_cert_file" : "tls_key_file"),
              cert ? "mqtt.tls_key_file" : "mqtt.tls_cert_file",
              std::string("must be set together with mqtt.") +
                  (cert ? "tls_cert_file" : "tls_key_file") +
                  " (mutual TLS needs the certificate and its key)");
    } else if (!m.tls_cert_file.empty() && m.tls_ca_file.empty()) {
        error(node_at(doc, "mqtt", "tls_cert_file"), "mqtt.tls_ca_file",
              "must be set for mqtt.tls_cert_file/tls_key_file to be used (TLS is on only with "
              "a CA file)");
    }

    const auto &src = c.source;
    const bool needs_path = src.kind == SourceKind::idx || src.kind == SourceKind::directory ||
                            src.kind == SourceKind::video;
    if (needs_path && src.path.empty())
        error(node_at(doc, "source", "kind"), "source.path",
              "source.kind = \"" + src.kind_name +
                  "\" needs a path (file, directory, or camera index for video)");
    // A video path may name a camera index or a stream URL (rtsp://, http://...): no file.
    const bool camera = src.kind == SourceKind::video && !src.path.empty() &&
                        std::all_of(src.path.begin(), src.path.end(),
                                    [](char ch) { return ch >= '0' && ch <= '9'; });
    const bool url = src.kind == SourceKind::video && src.path.find("://") != std::string::npos;
    std::error_code ec;
    if (needs_path && !src.path.empty() && !camera && !url &&
        !std::filesystem::exists(src.path, ec))
        error(node_at(doc, "source", "path"), "source.path", "'" + src.path + "' does not exist");
}

// [plugin.<name>] tables: names checked and tables kept raw for the plugin host.
void collect_plugin_tables(ErrorSink &error, const toml::table &doc, Config &c) {
    const toml::node *pn = doc.get(kPluginTablesKey);
    if (pn == nullptr)
        return;
    const toml::table *pt = pn->as_table();
    if (pt == nullptr) {
        error(pn, std::string(kPluginTablesKey),
              "expected a table of [plugin.<name>] tables, got " + toml_type_name(*pn));
        return;
    }
    for (const auto &[k, node] : *pt) {
        std::string name(k.str());
        const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
            return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
        });
        if (!name_ok)
            error(&node, "plugin." + name, "invalid plugin name, expected [a-z0-9-]+");
        else if (const toml::table *t = node.as_table())
            c.plugin_tables.emplace(name, *t);
        else
            error(&node, "plugin." + name, "expected a table, got " + toml_type_name(node));
    }
}

// Best-effort key path for a syntax error: "section.key" from the offending line.
std::string guess_key(std::string_view text, std::size_t line) {
    std::string section, key;
    std::size_t n = 0, pos = 0;
    while (pos <= text.size() && ++n <= line) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos)
            end = text.size();
        std::string_view l = text.substr(pos, end - pos);
        auto first = l.find_first_not_of(" \t");
        if (first != std::string_view::npos) {
            l = l.substr(first);
            if (l.front() == '[') {
                section.clear();
                for (char ch : l) {
                    if (ch == '#')
                        break;
                    if (ch != '[' && ch != ']' && ch != ' ' && ch != '\t')
                        section += ch;
                }
                key.clear();
            } else if (n == line) {
                auto eq = l.find('=');
                if (eq != std::string_view::npos) {
                    key = std::string(l.substr(0, eq));
                    while (!key.empty() && (key.back() == ' ' || key.back() == '\t'))
                        key.pop_back();
                }
            }
        }
        pos = end + 1;
    }
    if (key.empty())
        return n > line ? section : std::string();
    return section.empty() ? key : section + "." + key;
}

} // namespace

LoadResult build_config(toml::table document, std::string source_file) {
    LoadResult r;
    Config c;
    ErrorSink error(source_file, r.errors);
    check_declared_keys(error, document, c);
    check_cross_key_rules(error, document, c);
    collect_plugin_tables(error, document, c);
    // In the file's order, as the plugin tables' errors are (plan_errors).
    std::stable_sort(
        r.errors.begin(), r.errors.end(), [](const ConfigError &a, const ConfigError &b) {
            return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
        });
    if (!r.errors.empty())
        return r;
    c.source_file = std::move(source_file);
    c.document = std::move(document);
    r.config = std::move(c);
    return r;
}

LoadResult load_config_text(std::string_view text, std::string source_name,
                            const std::vector<std::string> &overrides) {
    LoadResult r;
    toml::table doc;
#if TOML_EXCEPTIONS
    try {
        doc = toml::parse(text, source_name);
    } catch (const toml::parse_error &err) {
#else
    auto parsed = toml::parse(text, source_name);
    if (parsed) {
        doc = std::move(parsed).table();
    } else {
        const toml::parse_error &err = parsed.error();
#endif
        ConfigError e;
        e.file = source_name;
        e.line = static_cast<int>(err.source().begin.line);
        e.column = static_cast<int>(err.source().begin.column);
        e.key_path = guess_key(text, err.source().begin.line);
        e.message = "syntax error: " + std::string(err.description());
        r.errors.push_back(std::move(e));
        return r;
    }
    ConfigErrors set_errors = apply_overrides(doc, overrides);
    r = build_config(std::move(doc), std::move(source_name));
    if (!set_errors.empty()) {
        set_errors.insert(set_errors.end(), r.errors.begin(), r.errors.end());
        r.errors = std::move(set_errors);
        r.config.reset();
    }
    return r;
}

LoadResult load_config_file(const std::string &path, const std::vector<std::string> &overrides) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadResult r;
        r.errors.push_back(ConfigError{path, 0, 0, "", "cannot open config file"});
        return r;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return load_config_text(ss.str(), path, overrides);
}

} // namespace tierd
