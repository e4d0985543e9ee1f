// How a command's outcome is shown: one JSON document (--json), or for people the
// device's result (one device) or a table of every device's answer (group, fleet).
#pragma once

#include "tools/tierctl/command_outcome.hpp"

#include <functional>
#include <ostream>

namespace tierctl {

struct ResultView {
    // An ok result in one table cell (default: compact JSON).
    std::function<std::string(const nlohmann::json &result)> cell;
    // An ok result of a single device, in full (default: indented JSON).
    std::function<void(std::ostream &out, const nlohmann::json &result)> single;
};

// Prints the outcome (errors and missing devices to stderr for a single device) and
// returns its exit code.
int report_outcome(const CommandOutcome &outcome, bool json, const ResultView &view = {});

} // namespace tierctl
