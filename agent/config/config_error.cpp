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

std::string to_string(const ConfigErrors &errors) {
    std::string out;
    for (const auto &e : errors) {
        out += e.to_string();
        out += '\n';
    }
    return out;
}

} // namespace tierd
