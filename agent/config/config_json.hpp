// JSON view of a Config for status/introspection, with secrets redacted.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config/config.hpp"

namespace tierd {

inline constexpr const char *kRedacted = "<redacted>";

// The whole configuration as JSON, one member per key of core_config_sections() and the
// [plugin.<name>] tables as written; secret keys (mqtt.password) show "<redacted>" when set.
nlohmann::json to_json(const Config &config);

// The non-empty values of the secret keys in `config`, for scrubbing from log output.
std::vector<std::string> secret_values(const Config &config);

} // namespace tierd
