// Runtime configuration changes (e.g. from a remote command), applied all-or-nothing.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/config/config.hpp"
#include "agent/config/config_loader.hpp"

namespace tierd {

// `changes` is a JSON object of dotted key -> new value: {"mqtt.port": 1884, ...}.
// Returns a new validated Config with every change applied, or only errors (file
// "change KEY" for malformed changes) and no Config; `current` is never modified.
LoadResult apply_changes(const Config &current, const nlohmann::json &changes);

} // namespace tierd
