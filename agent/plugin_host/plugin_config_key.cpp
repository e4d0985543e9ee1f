#include "agent/plugin_host/plugin_config_key.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace tierd {
namespace {

// The 1.0 layout of tierd_config_key is this header's. When a minor appends fields,
// freeze this number at its 1.0 value: older plugins keep declaring the short struct.
constexpr std::size_t kKeyLayout10 = sizeof(tierd_config_key);

// A NULL-terminated choice list longer than this is a list missing its terminator.
constexpr std::size_t kMaxChoices = 1024;

bool valid_key_name(const char *name) {
    if (name == nullptr || *name == '\0')
        return false;
    for (const char *p = name; *p != '\0'; ++p) {
        const char c = *p;
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool known_type(int type) {
    return type >= TIERD_CONFIG_BOOL && type <= TIERD_CONFIG_PATH;
}

bool numeric(tierd_config_type type) {
    return type == TIERD_CONFIG_INT || type == TIERD_CONFIG_DOUBLE;
}

// Parses the declaration's default text for `key.type`; nullopt when it does not parse.
std::optional<PluginConfigValue> parse_default(const PluginConfigKey &key, const char *text) {
    switch (key.type) {
    case TIERD_CONFIG_BOOL:
        if (text == nullptr)
            return std::nullopt;
        if (std::strcmp(text, "true") == 0)
            return PluginConfigValue(true);
        if (std::strcmp(text, "false") == 0)
            return PluginConfigValue(false);
        return std::nullopt;
    case TIERD_CONFIG_INT: {
        if (text == nullptr)
            return std::nullopt;
        std::int64_t v = 0;
        const char *end = text + std::strlen(text);
        auto [ptr, ec] = std::from_chars(text, end, v);
        if (ec != std::errc() || ptr != end || ptr == text)
            return std::nullopt;
        return PluginConfigValue(v);
    }
    case TIERD_CONFIG_DOUBLE: {
        if (text == nullptr)
            return std::nullopt;
        double v = 0;
        const char *end = text + std::strlen(text);
        auto [ptr, ec] = std::from_chars(text, end, v);
        if (ec != std::errc() || ptr != end || ptr == text || std::isnan(v))
            return std::nullopt;
        return PluginConfigValue(v);
    }
    case TIERD_CONFIG_STRING:
    case TIERD_CONFIG_PATH:
        // NULL is read as "" (unset): the natural default for free text and paths.
        return PluginConfigValue(std::string(text == nullptr ? "" : text));
    case TIERD_CONFIG_ENUM:
        if (text == nullptr)
            return std::nullopt;
        return PluginConfigValue(std::string(text));
    }
    return std::nullopt;
}

// Checks one raw declaration and copies it into `out`; returns what is wrong, or "".
std::string copy_one(const tierd_config_key &raw, PluginConfigKey &out) {
    if (!valid_key_name(raw.name))
        return "name must match [A-Za-z0-9_-]+";
    out.name = raw.name;
    // The plugin's bits, not yet a valid tierd_config_type: loading an out-of-range value
    // as the enum is undefined behaviour (UBSan caught it in the ASan test run).
    int type = 0;
    static_assert(sizeof type == sizeof raw.type);
    std::memcpy(&type, &raw.type, sizeof type);
    if (!known_type(type))
        return "unknown type " + std::to_string(type);
    out.type = raw.type;
    out.flags = raw.flags;
    out.doc = raw.doc == nullptr ? "" : raw.doc;

    const bool has_min = (raw.flags & TIERD_CONFIG_HAS_MIN) != 0;
    const bool has_max = (raw.flags & TIERD_CONFIG_HAS_MAX) != 0;
    if ((has_min || has_max) && !numeric(raw.type))
        return "min/max flags on a " + std::string(config_type_name(raw.type)) + " key";
    if (has_min) {
        if (std::isnan(raw.min))
            return "min is NaN";
        out.min = raw.min;
    }
    if (has_max) {
        if (std::isnan(raw.max))
            return "max is NaN";
        out.max = raw.max;
    }
    if (out.min && out.max && *out.min > *out.max)
        return "min " + format_number(*out.min) + " is above max " + format_number(*out.max);
    if (out.must_exist() && raw.type != TIERD_CONFIG_PATH)
        return "MUST_EXIST on a " + std::string(config_type_name(raw.type)) + " key";

    if (raw.type == TIERD_CONFIG_ENUM) {
        if (raw.choices == nullptr || raw.choices[0] == nullptr)
            return "enum key declares no choices";
        for (std::size_t i = 0; raw.choices[i] != nullptr; ++i) {
            if (i == kMaxChoices)
                return "more than " + std::to_string(kMaxChoices) +
                       " choices (missing NULL terminator?)";
            out.choices.emplace_back(raw.choices[i]);
        }
    }

    auto value = parse_default(out, raw.default_value);
    if (!value)
        return "default " +
               (raw.default_value == nullptr ? std::string("(NULL)")
                                             : "\"" + std::string(raw.default_value) + "\"") +
               " is not a valid " + config_type_name(raw.type);
    out.default_value = std::move(*value);
    if (auto problem = check_value(out, out.default_value))
        return "default " + *problem;
    return "";
}

} // namespace

const char *config_type_name(tierd_config_type type) {
    switch (type) {
    case TIERD_CONFIG_BOOL: return "boolean";
    case TIERD_CONFIG_INT: return "integer";
    case TIERD_CONFIG_DOUBLE: return "float";
    case TIERD_CONFIG_STRING: return "string";
    case TIERD_CONFIG_ENUM: return "enum";
    case TIERD_CONFIG_PATH: return "path";
    }
    return "unknown";
}

std::optional<std::string> check_value(const PluginConfigKey &key, const PluginConfigValue &value) {
    // A secret's value never appears in a message, not even a wrong one.
    auto got = [&](const std::string &shown) {
        return key.secret() ? std::string() : " (got " + shown + ")";
    };
    if (numeric(key.type)) {
        double v = 0;
        std::string shown;
        if (const auto *i = std::get_if<std::int64_t>(&value)) {
            v = static_cast<double>(*i);
            shown = std::to_string(*i);
        } else if (const auto *d = std::get_if<double>(&value)) {
            v = *d;
            shown = format_number(*d);
        } else {
            return "must be a number";
        }
        // Written as !(v >= min) so that NaN fails a range too.
        if (key.min && !(v >= *key.min))
            return "must be at least " + format_number(*key.min) + got(shown);
        if (key.max && !(v <= *key.max))
            return "must be at most " + format_number(*key.max) + got(shown);
        return std::nullopt;
    }
    if (key.type == TIERD_CONFIG_ENUM) {
        const auto *s = std::get_if<std::string>(&value);
        if (s == nullptr)
            return "must be a string";
        if (std::find(key.choices.begin(), key.choices.end(), *s) != key.choices.end())
            return std::nullopt;
        std::string all;
        for (const auto &c : key.choices) {
            if (!all.empty())
                all += '|';
            all += c;
        }
        return "must be one of " + all + got("\"" + *s + "\"");
    }
    return std::nullopt;
}

ConfigKeysResult copy_config_keys(const tierd_config_key *keys, std::uint32_t count,
                                  std::uint32_t stride) {
    ConfigKeysResult r;
    if (count == 0)
        return r;
    if (keys == nullptr) {
        r.error = "config_keys is NULL but config_key_count is " + std::to_string(count);
        return r;
    }
    if (stride < kKeyLayout10) {
        r.error = "config_key_size " + std::to_string(stride) +
                  " is smaller than the ABI 1.0 tierd_config_key (" + std::to_string(kKeyLayout10) +
                  " bytes)";
        return r;
    }
    const auto *base = reinterpret_cast<const unsigned char *>(keys);
    for (std::uint32_t i = 0; i < count; ++i) {
        const unsigned char *at = base + static_cast<std::size_t>(i) * stride;
        std::uint32_t size = 0;
        std::memcpy(&size, at, sizeof size);
        const std::string which = "config key #" + std::to_string(i);
        if (size < kKeyLayout10 || size > stride) {
            r.error = which + ": struct_size " + std::to_string(size) + " does not fit between " +
                      std::to_string(kKeyLayout10) + " and config_key_size " +
                      std::to_string(stride);
            r.keys.clear();
            return r;
        }
        // Read only what the plugin's struct covers; newer fields stay zero.
        tierd_config_key raw{};
        std::memcpy(&raw, at, std::min<std::size_t>(size, sizeof raw));
        PluginConfigKey key;
        if (std::string problem = copy_one(raw, key); !problem.empty()) {
            r.error = (raw.name != nullptr && valid_key_name(raw.name)
                           ? "config key \"" + std::string(raw.name) + "\""
                           : which) +
                      ": " + problem;
            r.keys.clear();
            return r;
        }
        const bool duplicate = std::any_of(r.keys.begin(), r.keys.end(),
                                           [&](const auto &k) { return k.name == key.name; });
        if (duplicate) {
            r.error = "config key \"" + key.name + "\" is declared twice";
            r.keys.clear();
            return r;
        }
        r.keys.push_back(std::move(key));
    }
    return r;
}

} // namespace tierd
