// The built-in default configuration (config/tierd.toml, embedded at build time).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config_loader.hpp"

namespace tierd {

// The text of config/tierd.toml as it was when the agent was built.
std::string_view default_config_text();

// Loads the embedded default (source "<default>") with `overrides` applied.
LoadResult load_default_config(const std::vector<std::string> &overrides = {});

} // namespace tierd
