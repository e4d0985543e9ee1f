// JSON from the network (commands, offload headers and replies, other agents' statuses
// and profiles), parsed with a bound on nesting. nlohmann's parser is iterative, but its
// copies and dump() recurse once per level: a few hundred kB of "[[[[..." in one MQTT
// message overflowed the stack when such a document was copied or quoted (found by the
// fuzz/ harnesses). Header-only; needs nothing but nlohmann-json.
#pragma once

#include <nlohmann/json.hpp>

namespace tierd {

// Parses [first, last). Returns a discarded value when the text is not JSON or nests
// deeper than `max_depth`; `too_deep`, when given, tells the two apart.
template <typename It>
nlohmann::json parse_untrusted_json(It first, It last, int max_depth, bool *too_deep = nullptr) {
    bool deep = false;
    auto doc = nlohmann::json::parse(
        first, last,
        [&deep, max_depth](int depth, nlohmann::json::parse_event_t, nlohmann::json &) {
            deep = deep || depth > max_depth;
            return !deep; // keep nothing more once too deep
        },
        false);
    if (too_deep != nullptr)
        *too_deep = deep;
    return deep ? nlohmann::json(nlohmann::json::value_t::discarded) : doc;
}

template <typename Text>
nlohmann::json parse_untrusted_json(const Text &text, int max_depth, bool *too_deep = nullptr) {
    return parse_untrusted_json(text.begin(), text.end(), max_depth, too_deep);
}

} // namespace tierd
