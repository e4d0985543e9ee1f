// Turns TOML text, a TOML file, or an already-parsed document into a validated Config.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.hpp"
#include "agent/config/config_error.hpp"

namespace tierd {

// Either a Config (errors empty) or every problem found (config empty).
struct LoadResult {
    std::optional<Config> config;
    ConfigErrors errors;

    bool ok() const { return config.has_value(); }
};

// Validates `document` (all errors collected, with source line/column where the nodes carry
// them) and builds the typed Config. `source_file` names the source for nodes without one.
LoadResult build_config(toml::table document, std::string source_file);

// Parses `text` (errors are reported against `source_name`), applies `overrides`
// ("KEY=VALUE", see config_overrides.hpp), then validates.
LoadResult load_config_text(std::string_view text, std::string source_name,
                            const std::vector<std::string> &overrides = {});

// Reads and loads the file at `path`.
LoadResult load_config_file(const std::string &path,
                            const std::vector<std::string> &overrides = {});

} // namespace tierd
