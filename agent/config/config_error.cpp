#include "agent/config/config_error.hpp"

namespace tierd {

std::string ConfigError::to_string() const {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line);
        if (column > 0)
            out += ":" + std::to_string(column);
    }
    out += ": ";
    if (!key_path.empty())
        out += key_path + ": ";
    out += message;
    return out;
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
