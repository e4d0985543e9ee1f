// A configuration problem, located precisely enough for an operator to fix it.
#pragma once

#include <string>
#include <vector>

namespace tierd {

// One problem in a config source. `file` is the config file's path, or a pseudo-source
// such as "--set mqtt.port" or "<default>"; line/column are 1-based, 0 when unknown.
struct ConfigError {
    std::string file;
    int line = 0;
    int column = 0;
    std::string key_path; // dotted: "mqtt.port", "plugin.inference-opencv.backend"
    std::string message;  // what was expected / what is wrong; never contains a secret value

    // "file:line:column: key.path: message" (line/column omitted when unknown).
    std::string to_string() const;
};

using ConfigErrors = std::vector<ConfigError>;

// All errors, one per line.
std::string to_string(const ConfigErrors &errors);

} // namespace tierd
