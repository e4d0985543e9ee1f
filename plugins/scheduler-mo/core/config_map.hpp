// A flat key -> value map (numbers or strings), the shape in which the scheduler-mo plugin
// hands its configuration to the core, and lookups whose errors name the key.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace scheduler_mo {

using ConfigValue = std::variant<double, std::string>;
using ConfigMap = std::map<std::string, ConfigValue, std::less<>>;

// The number under `key`, or nullopt when absent. A string that is a whole finite number
// ("0.5") is accepted, since plugin configs often carry numbers as text. Throws
// std::invalid_argument naming the key for anything else.
std::optional<double> get_number(const ConfigMap &map, std::string_view key);
// The string under `key`, or nullopt when absent; throws std::invalid_argument when the
// value is a number.
std::optional<std::string> get_string(const ConfigMap &map, std::string_view key);
// "a, b,,c" -> {"a", "b", "c"}: comma-separated, each item trimmed, empty items dropped.
std::vector<std::string> split_list(std::string_view text);

} // namespace scheduler_mo
