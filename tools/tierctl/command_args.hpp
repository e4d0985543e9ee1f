// Command arguments from the command line: KEY=VALUE words and --args JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tierctl {

// VALUE read as JSON (500, true, [1,2], {"a":1}, "quoted"), else taken as a string.
nlohmann::json parse_value(const std::string &text);

// {"key": value, ...} from KEY=VALUE words, merged over the --args object (the words win).
// Throws UsageError for a word without "=" or an --args that is not a JSON object.
nlohmann::json parse_arguments(const std::vector<std::string> &assignments,
                               const std::string &args_json);

// The value at a dotted path ("telemetry.interval_ms") in a JSON document, or nullptr.
const nlohmann::json *find_dotted(const nlohmann::json &doc, const std::string &path);

} // namespace tierctl
