#include "agent/config/config_error.hpp"

namespace tierd {

std::string ConfigError::to_string() const {
    std::string out = file;
    // append() rather than operator+ on temporaries: GCC 12 at -O3 reports a false
    // -Wrestrict on the latter.
    if (line > 0) {
        out.append(1, ':').append(std::to_string(line));
        if (column > 0)
            out.append(1, ':').append(std::to_string(column));
    }
    out += ": ";
    if (!key_path.empty())
        out += key_path + ": ";
    out += message;
    return out;
}

ConfigError config_error_at(const toml::source_region *where, std::string fallback_file,
                            std::string key_path, std::string message) {
    ConfigError e;
    e.file = std::move(fallback_file);
    e.key_path = std::move(key_path);
    e.message = std::move(message);
    if (where == nullptr)
        return e;
    if (where->path && !where->path->empty())
        e.file = *where->path;
    if (e.file.rfind("--set ", 0) != 0 && e.file.rfind("change ", 0) != 0) {
        e.line = static_cast<int>(where->begin.line);
        e.column = static_cast<int>(where->begin.column);
    }
    return e;
}

ConfigError config_error_at(const toml::node *node, std::string fallback_file, std::string key_path,
                            std::string message) {
    return config_error_at(node == nullptr ? nullptr : &node->source(), std::move(fallback_file),
                           std::move(key_path), std::move(message));
}

std::string to_string(const ConfigErrors &errors) {
    std::string out;
    for (const auto &e : errors) {
        out += e.to_string();
        out += '\n';
    }
    return out;
}

} // namespace tierd
