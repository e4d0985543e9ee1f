#include "agent/config/config_changes.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace tierd {
namespace {

// Converts a JSON value to a TOML node; nullopt for null or mixed-type content TOML rejects.
std::optional<toml::table> wrap(const nlohmann::json &j);

bool insert_json(toml::array &arr, const nlohmann::json &j) {
    switch (j.type()) {
    case nlohmann::json::value_t::boolean: arr.push_back(j.get<bool>()); return true;
    case nlohmann::json::value_t::number_integer: arr.push_back(j.get<std::int64_t>()); return true;
    case nlohmann::json::value_t::number_unsigned:
        // TOML integers are int64; a larger value would wrap to a negative one.
        if (j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
            return false;
        arr.push_back(j.get<std::int64_t>());
        return true;
    case nlohmann::json::value_t::number_float: arr.push_back(j.get<double>()); return true;
    case nlohmann::json::value_t::string: arr.push_back(j.get<std::string>()); return true;
    case nlohmann::json::value_t::array: {
        toml::array inner;
        for (const auto &el : j)
            if (!insert_json(inner, el))
                return false;
        arr.push_back(std::move(inner));
        return true;
    }
    case nlohmann::json::value_t::object: {
        auto t = wrap(j);
        if (!t)
            return false;
        arr.push_back(std::move(*t));
        return true;
    }
    default: return false;
    }
}

// Sets `key` in `t` to the TOML form of `j`.
bool set_json(toml::table &t, const std::string &key, const nlohmann::json &j) {
    toml::array holder;
    if (!insert_json(holder, j))
        return false;
    holder.get(0)->visit([&](auto &&n) { t.insert_or_assign(key, std::move(n)); });
    return true;
}

std::optional<toml::table> wrap(const nlohmann::json &j) {
    toml::table t;
    for (const auto &[k, v] : j.items())
        if (!set_json(t, k, v))
            return std::nullopt;
    return t;
}

} // namespace

LoadResult apply_changes(const Config &current, const nlohmann::json &changes) {
    LoadResult r;
    if (!changes.is_object()) {
        r.errors.push_back(ConfigError{"changes", 0, 0, "", "expected a JSON object"});
        return r;
    }
    toml::table doc = current.document;
    for (const auto &[key, value] : changes.items()) {
        // An init-capture: clang 14 cannot capture a structured binding by name.
        auto fail = [&r, &k = key](std::string msg) {
            r.errors.push_back(ConfigError{"change " + k, 0, 0, k, std::move(msg)});
        };
        if (key.empty() || key.front() == '.' || key.back() == '.' ||
            key.find("..") != std::string::npos) {
            fail("invalid key");
            continue;
        }
        toml::table *t = &doc;
        std::size_t pos = 0;
        bool ok = true;
        for (std::size_t dot; (dot = key.find('.', pos)) != std::string::npos; pos = dot + 1) {
            std::string part = key.substr(pos, dot - pos);
            toml::node *n = t->get(part);
            if (n == nullptr)
                n = &t->insert_or_assign(part, toml::table{}).first->second;
            if (!n->is_table()) {
                fail("'" + key.substr(0, dot) + "' is not a table");
                ok = false;
                break;
            }
            t = n->as_table();
        }
        if (ok && !set_json(*t, key.substr(pos), value))
            fail("value cannot be represented in TOML");
    }
    if (!r.errors.empty())
        return r;
    r = build_config(std::move(doc), current.source_file);
    // Copied nodes carry no source; name the change responsible for each error instead.
    for (auto &e : r.errors) {
        for (const auto &[key, value] : changes.items()) {
            if (e.key_path == key || e.key_path.rfind(key + ".", 0) == 0 ||
                e.key_path.rfind(key + "[", 0) == 0) {
                e.file = "change " + key;
                e.line = e.column = 0;
            }
        }
    }
    return r;
}

} // namespace tierd
