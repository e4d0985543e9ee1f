// JSON view of a Config for status/introspection, with secrets redacted.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config/config.hpp"

namespace tierd {

inline constexpr const char *kRedacted = "<redacted>";

// The whole configuration as JSON; secrets (mqtt.password) appear as "<redacted>" when set.
nlohmann::json to_json(const Config &config);

// The non-empty secret values in `config`, for scrubbing from log output.
std::vector<std::string> secret_values(const Config &config);

} // namespace tierd
