// Command-line `--set KEY=VALUE` overrides applied onto a parsed config document.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "agent/config/config_error.hpp"

namespace tierd {

// Applies each "KEY=VALUE" onto `document` in order. KEY is a dotted TOML key
// ("mqtt.port", "plugin.inference-opencv.backend"); VALUE is parsed as a TOML value
// (1883, true, [1, 2], "x", {a = 1}) and taken as a plain string when it is not one.
// Inserted nodes carry the source "--set KEY", so later validation errors name it.
// Malformed overrides are reported (file "--set KEY") and skipped.
ConfigErrors apply_overrides(toml::table &document, const std::vector<std::string> &overrides);

} // namespace tierd
