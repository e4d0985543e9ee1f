#include "agent/config/config_loader.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <utility>

#include "agent/config/config_overrides.hpp"

namespace tierd {
namespace {

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

template <typename Range> std::string suggestion(std::string_view key, const Range &known) {
    std::string_view best;
    std::size_t best_d = std::numeric_limits<std::size_t>::max();
    for (auto k : known) {
        auto d = edit_distance(key, k);
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    if (best.empty() || best_d > std::max<std::size_t>(2, key.size() / 3))
        return {};
    return " (did you mean '" + std::string(best) + "'?)";
}

bool chars_ok(std::string_view s, std::string_view extra, bool allow_upper) {
    return std::all_of(s.begin(), s.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               (allow_upper && c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
    });
}

std::string type_name(const toml::node &n) {
    switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "nothing";
    }
}

// A number as a config file would spell it (no trailing zeros).
std::string number_text(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

template <typename E> struct EnumChoice {
    std::string_view name;
    E value;
};

class Validator {
  public:
    Validator(const toml::table &doc, std::string fallback_file, ConfigErrors &errors)
        : doc_(doc), fallback_(std::move(fallback_file)), errors_(errors) {}

    void error(const toml::node *node, std::string key_path, std::string message) {
        ConfigError e;
        e.file = fallback_;
        e.key_path = std::move(key_path);
        e.message = std::move(message);
        if (node != nullptr) {
            const auto &src = node->source();
            if (src.path && !src.path->empty())
                e.file = *src.path;
            // Overrides are one-liners synthesized by us: their positions mean nothing.
            if (e.file.rfind("--set ", 0) != 0 && e.file.rfind("change ", 0) != 0) {
                e.line = static_cast<int>(src.begin.line);
                e.column = static_cast<int>(src.begin.column);
            }
        }
        errors_.push_back(std::move(e));
    }

    // The table `name`, checked for type and unknown keys; nullptr when absent or wrong.
    const toml::table *section(std::string_view name,
                               std::initializer_list<std::string_view> keys) {
        const toml::node *n = doc_.get(name);
        if (n == nullptr)
            return nullptr;
        const toml::table *t = n->as_table();
        if (t == nullptr) {
            error(n, std::string(name), "expected a table, got " + type_name(*n));
            return nullptr;
        }
        for (const auto &[k, v] : *t) {
            if (std::find(keys.begin(), keys.end(), k.str()) == keys.end())
                error(&v, std::string(name) + "." + std::string(k.str()),
                      "unknown key" + suggestion(k.str(), keys));
        }
        return t;
    }

    const toml::node *get(const toml::table *sec, std::string_view key) const {
        return sec == nullptr ? nullptr : sec->get(key);
    }

    static std::string path(std::string_view sec, std::string_view key) {
        return std::string(sec) + "." + std::string(key);
    }

    // Returns false (error recorded) on a type mismatch; true when absent or valid.
    bool str(const toml::table *sec, std::string_view sec_name, std::string_view key,
             std::string &out) {
        const toml::node *n = get(sec, key);
        if (n == nullptr)
            return true;
        if (auto v = n->value<std::string>(); v && n->is_string()) {
            out = *v;
            return true;
        }
        error(n, path(sec_name, key), "expected a string, got " + type_name(*n));
        return false;
    }

    template <typename Int>
    void integer(const toml::table *sec, std::string_view sec_name, std::string_view key,
                 std::int64_t lo, std::int64_t hi, Int &out) {
        const toml::node *n = get(sec, key);
        if (n == nullptr)
            return;
        if (!n->is_integer()) {
            error(n, path(sec_name, key), "expected an integer, got " + type_name(*n));
            return;
        }
        std::int64_t v = n->as_integer()->get();
        if (v < lo || v > hi) {
            error(n, path(sec_name, key),
                  "value " + std::to_string(v) + " out of range " + std::to_string(lo) + ".." +
                      std::to_string(hi));
            return;
        }
        out = static_cast<Int>(v);
    }

    void number(const toml::table *sec, std::string_view sec_name, std::string_view key, double lo,
                double hi, double &out) {
        const toml::node *n = get(sec, key);
        if (n == nullptr)
            return;
        auto v = n->value<double>();
        if (!v || !(n->is_floating_point() || n->is_integer())) {
            error(n, path(sec_name, key), "expected a number, got " + type_name(*n));
            return;
        }
        if (!(*v >= lo && *v <= hi)) {
            error(n, path(sec_name, key),
                  "value " + number_text(*v) + " out of range " + number_text(lo) + ".." +
                      number_text(hi));
            return;
        }
        out = *v;
    }

    void boolean(const toml::table *sec, std::string_view sec_name, std::string_view key,
                 bool &out) {
        const toml::node *n = get(sec, key);
        if (n == nullptr)
            return;
        if (!n->is_boolean()) {
            error(n, path(sec_name, key), "expected a boolean, got " + type_name(*n));
            return;
        }
        out = n->as_boolean()->get();
    }

    template <typename E>
    void enumeration(const toml::table *sec, std::string_view sec_name, std::string_view key,
                     std::initializer_list<EnumChoice<E>> choices, E &out) {
        std::string s;
        if (get(sec, key) == nullptr || !str(sec, sec_name, key, s))
            return;
        std::string names;
        for (const auto &c : choices) {
            if (c.name == s) {
                out = c.value;
                return;
            }
            names += (names.empty() ? "" : ", ") + ("'" + std::string(c.name) + "'");
        }
        error(get(sec, key), path(sec_name, key),
              "invalid value '" + s + "', expected one of " + names);
    }

    template <typename Check>
    void str_array(const toml::table *sec, std::string_view sec_name, std::string_view key,
                   std::vector<std::string> &out, Check check, std::string_view what) {
        const toml::node *n = get(sec, key);
        if (n == nullptr)
            return;
        const toml::array *a = n->as_array();
        if (a == nullptr) {
            error(n, path(sec_name, key), "expected an array of strings, got " + type_name(*n));
            return;
        }
        std::vector<std::string> result;
        bool ok = true;
        for (std::size_t i = 0; i < a->size(); ++i) {
            const toml::node &el = *a->get(i);
            std::string el_path = path(sec_name, key) + "[" + std::to_string(i) + "]";
            if (!el.is_string()) {
                error(&el, el_path, "expected a string, got " + type_name(el));
                ok = false;
                continue;
            }
            std::string s = el.as_string()->get();
            if (!check(s)) {
                error(&el, el_path, "invalid value '" + s + "', expected " + std::string(what));
                ok = false;
                continue;
            }
            result.push_back(std::move(s));
        }
        if (ok)
            out = std::move(result);
    }

    void existing_path(const toml::table *sec, std::string_view sec_name, std::string_view key,
                       std::string &out) {
        if (!str(sec, sec_name, key, out) || out.empty())
            return;
        std::error_code ec;
        if (!std::filesystem::exists(out, ec))
            error(get(sec, key), path(sec_name, key), "file '" + out + "' does not exist");
    }

    void plugin_name(const toml::table *sec, std::string_view sec_name, std::string_view key,
                     std::string &out) {
        if (str(sec, sec_name, key, out) && !chars_ok(out, "-", false))
            error(get(sec, key), path(sec_name, key),
                  "invalid plugin name '" + out + "', expected [a-z0-9-]+ or \"\" for none");
    }

    const toml::table &doc() const { return doc_; }

  private:
    const toml::table &doc_;
    std::string fallback_;
    ConfigErrors &errors_;
};

void validate(Validator &v, Config &c) {
    static constexpr std::array<std::string_view, 12> kSections = {
        "agent",   "workers", "mqtt",    "telemetry", "hal",     "source",
        "results", "spool",   "offload", "pipeline",  "plugins", "plugin"};
    for (const auto &[k, node] : v.doc()) {
        if (std::find(kSections.begin(), kSections.end(), k.str()) == kSections.end())
            v.error(&node, std::string(k.str()),
                    "unknown section" + suggestion(k.str(), kSections));
    }

    {
        const auto *s = v.section(
            "agent", {"device_id", "role", "groups", "log_level", "drain_timeout_ms", "state_dir"});
        auto &a = c.agent;
        if (v.str(s, "agent", "device_id", a.device_id) && !chars_ok(a.device_id, "_.-", true))
            v.error(v.get(s, "device_id"), "agent.device_id",
                    "invalid value '" + a.device_id + "', expected [A-Za-z0-9_.-]+ or \"\"");
        v.enumeration<Role>(s, "agent", "role",
                            {{"end", Role::end}, {"edge", Role::edge}, {"cloud", Role::cloud}},
                            a.role);
        v.str_array(
            s, "agent", "groups", a.groups,
            [](const std::string &g) { return !g.empty() && chars_ok(g, "_-", false); },
            "[a-z0-9_-]+");
        v.enumeration<LogLevel>(s, "agent", "log_level",
                                {{"debug", LogLevel::debug},
                                 {"info", LogLevel::info},
                                 {"warning", LogLevel::warning},
                                 {"error", LogLevel::error}},
                                a.log_level);
        v.integer(s, "agent", "drain_timeout_ms", 0, 600000, a.drain_timeout_ms);
        v.str(s, "agent", "state_dir", a.state_dir);
    }
    {
        const auto *s = v.section("workers", {"threads", "queue_limit", "overflow"});
        auto &w = c.workers;
        v.integer(s, "workers", "threads", 0, 64, w.threads);
        v.integer(s, "workers", "queue_limit", 1, 100000, w.queue_limit);
        v.enumeration<OverflowPolicy>(
            s, "workers", "overflow",
            {{"reject", OverflowPolicy::reject}, {"drop-oldest", OverflowPolicy::drop_oldest}},
            w.overflow);
    }
    {
        const auto *s = v.section("mqtt", {"host", "port", "keepalive_s", "username", "password",
                                           "tls_ca_file", "tls_cert_file", "tls_key_file",
                                           "reconnect_min_ms", "reconnect_max_ms", "qos"});
        auto &m = c.mqtt;
        if (v.str(s, "mqtt", "host", m.host) && m.host.empty())
            v.error(v.get(s, "host"), "mqtt.host", "must not be empty");
        v.integer(s, "mqtt", "port", 1, 65535, m.port);
        v.integer(s, "mqtt", "keepalive_s", 5, 3600, m.keepalive_s);
        v.str(s, "mqtt", "username", m.username);
        if (const auto *n = v.get(s, "password"); n != nullptr && !n->is_string())
            v.error(n, "mqtt.password", "expected a string, got " + type_name(*n)); // no value
        else if (n != nullptr)
            m.password = n->as_string()->get();
        v.existing_path(s, "mqtt", "tls_ca_file", m.tls_ca_file);
        v.existing_path(s, "mqtt", "tls_cert_file", m.tls_cert_file);
        v.existing_path(s, "mqtt", "tls_key_file", m.tls_key_file);
        v.integer(s, "mqtt", "reconnect_min_ms", 10, 600000, m.reconnect_min_ms);
        v.integer(s, "mqtt", "reconnect_max_ms", 10, 600000, m.reconnect_max_ms);
        if (m.reconnect_max_ms < m.reconnect_min_ms) {
            const toml::node *n = v.get(s, "reconnect_max_ms");
            v.error(n ? n : v.get(s, "reconnect_min_ms"), "mqtt.reconnect_max_ms",
                    "must be >= mqtt.reconnect_min_ms (" + std::to_string(m.reconnect_min_ms) +
                        ")");
        }
        v.integer(s, "mqtt", "qos", 0, 2, m.qos);
    }
    {
        const auto *s = v.section("telemetry", {"interval_ms", "durable"});
        v.integer(s, "telemetry", "interval_ms", 100, 3600000, c.telemetry.interval_ms);
        v.boolean(s, "telemetry", "durable", c.telemetry.durable);
    }
    {
        const auto *s = v.section("hal", {"root", "profile", "profile_dirs"});
        v.str(s, "hal", "root", c.hal.root);
        v.str(s, "hal", "profile", c.hal.profile);
        v.str_array(
            s, "hal", "profile_dirs", c.hal.profile_dirs,
            [](const std::string &d) { return !d.empty(); }, "a non-empty path");
    }
    {
        const auto *s = v.section("source", {"kind", "path", "labels", "limit", "rate_hz"});
        auto &src = c.source;
        v.enumeration<SourceKind>(s, "source", "kind",
                                  {{"none", SourceKind::none},
                                   {"idx", SourceKind::idx},
                                   {"directory", SourceKind::directory},
                                   {"video", SourceKind::video},
                                   {"topic", SourceKind::topic}},
                                  src.kind);
        v.str(s, "source", "path", src.path);
        v.existing_path(s, "source", "labels", src.labels);
        v.integer(s, "source", "limit", 0, std::int64_t{1} << 40, src.limit);
        if (const toml::node *n = v.get(s, "rate_hz")) {
            auto rate = n->value<double>();
            if (!rate || !(n->is_floating_point() || n->is_integer()))
                v.error(n, "source.rate_hz", "expected a number, got " + type_name(*n));
            else if (*rate < 0.0 || *rate > 100000.0)
                v.error(n, "source.rate_hz", "value out of range 0..100000");
            else
                src.rate_hz = *rate;
        }
        const bool needs_path = src.kind != SourceKind::none && src.kind != SourceKind::topic;
        if (needs_path && src.path.empty())
            v.error(s ? v.get(s, "kind") : nullptr, "source.path",
                    "source.kind = \"" + std::string(to_string(src.kind)) +
                        "\" needs a path (file, directory, or camera index for video)");
        const bool camera = src.kind == SourceKind::video && !src.path.empty() &&
                            std::all_of(src.path.begin(), src.path.end(),
                                        [](char ch) { return ch >= '0' && ch <= '9'; });
        std::error_code ec;
        if (needs_path && !src.path.empty() && !camera && !std::filesystem::exists(src.path, ec))
            v.error(v.get(s, "path"), "source.path", "'" + src.path + "' does not exist");
    }
    {
        const auto *s =
            v.section("offload", {"timeout_ms", "max_in_flight", "batch_max", "probe_interval_ms"});
        v.integer(s, "offload", "timeout_ms", 10, 600000, c.offload.timeout_ms);
        v.integer(s, "offload", "max_in_flight", 1, 10000, c.offload.max_in_flight);
        v.integer(s, "offload", "batch_max", 1, 256, c.offload.batch_max);
        v.integer(s, "offload", "probe_interval_ms", 0, 600000, c.offload.probe_interval_ms);
    }
    {
        const auto *s = v.section("pipeline", {"local_first", "emulate_slowdown"});
        v.boolean(s, "pipeline", "local_first", c.pipeline.local_first);
        v.number(s, "pipeline", "emulate_slowdown", 1.0, 10000.0, c.pipeline.emulate_slowdown);
    }
    {
        const auto *s = v.section("results", {"jsonl", "publish"});
        v.str(s, "results", "jsonl", c.results.jsonl);
        if (const toml::node *n = v.get(s, "publish")) {
            if (auto b = n->value<bool>(); b && n->is_boolean())
                c.results.publish = *b;
            else
                v.error(n, "results.publish", "expected a boolean, got " + type_name(*n));
        }
    }
    {
        const auto *s = v.section("spool", {"storage", "path", "max_bytes", "segment_bytes",
                                            "max_age_s", "when_full", "sync", "window"});
        auto &sp = c.spool;
        v.enumeration<SpoolStorage>(
            s, "spool", "storage", {{"file", SpoolStorage::file}, {"memory", SpoolStorage::memory}},
            sp.storage);
        v.str(s, "spool", "path", sp.path);
        v.integer(s, "spool", "max_bytes", std::int64_t{1} << 16, std::int64_t{1} << 40,
                  sp.max_bytes);
        v.integer(s, "spool", "segment_bytes", std::int64_t{1} << 12, std::int64_t{1} << 36,
                  sp.segment_bytes);
        v.integer(s, "spool", "max_age_s", 0, std::int64_t{10} * 365 * 86400, sp.max_age_s);
        v.enumeration<SpoolWhenFull>(s, "spool", "when_full",
                                     {{"drop-oldest", SpoolWhenFull::drop_oldest},
                                      {"drop-newest", SpoolWhenFull::drop_newest},
                                      {"block", SpoolWhenFull::block}},
                                     sp.when_full);
        v.enumeration<SpoolSync>(s, "spool", "sync",
                                 {{"normal", SpoolSync::normal}, {"full", SpoolSync::full}},
                                 sp.sync);
        v.integer(s, "spool", "window", 1, 1000, sp.window);
    }
    {
        const auto *s = v.section(
            "plugins", {"search_path", "scheduler", "preclassifier", "inference", "fusion"});
        auto &p = c.plugins;
        v.str_array(
            s, "plugins", "search_path", p.search_path, [](const std::string &) { return true; },
            "a path");
        v.plugin_name(s, "plugins", "scheduler", p.scheduler);
        v.plugin_name(s, "plugins", "preclassifier", p.preclassifier);
        v.plugin_name(s, "plugins", "inference", p.inference);
        v.plugin_name(s, "plugins", "fusion", p.fusion);
    }
    if (const toml::node *pn = v.doc().get("plugin")) {
        if (const toml::table *pt = pn->as_table()) {
            for (const auto &[k, node] : *pt) {
                std::string name(k.str());
                if (name.empty() || !chars_ok(name, "-", false))
                    v.error(&node, "plugin." + name, "invalid plugin name, expected [a-z0-9-]+");
                else if (const toml::table *t = node.as_table())
                    c.plugin_tables.emplace(name, *t);
                else
                    v.error(&node, "plugin." + name, "expected a table, got " + type_name(node));
            }
        } else {
            v.error(pn, "plugin",
                    "expected a table of [plugin.<name>] tables, got " + type_name(*pn));
        }
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
    Validator v(document, source_file, r.errors);
    validate(v, c);
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
