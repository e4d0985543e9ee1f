// A configuration problem, located precisely enough for an operator to fix it.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

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

// An error about `node`: the file, line and column its source says, or `fallback_file`
// and no position when the node has none (nullptr, or a copied node). Positions of
// "--set KEY" and "change KEY" nodes are dropped: those one-liners are synthesized, so
// their lines and columns mean nothing to an operator.
ConfigError config_error_at(const toml::node *node, std::string fallback_file, std::string key_path,
                            std::string message);
// The same for a source region (a key's own, toml::key::source()); nullptr = none.
ConfigError config_error_at(const toml::source_region *where, std::string fallback_file,
                            std::string key_path, std::string message);

// All errors, one per line.
std::string to_string(const ConfigErrors &errors);

} // namespace tierd
