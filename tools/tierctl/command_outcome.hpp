// What one command sent to a device, a group or the fleet came back with, and the exit
// code that follows from it (exit_codes.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tierctl {

// Where a command goes: the three command topics of docs/mqtt.md.
struct Target {
    enum class Kind { device, group, fleet };
    Kind kind = Kind::device;
    std::string name; // device id or group name; empty for the fleet

    std::string topic() const;
    std::string describe() const; // "device cam-1", "group line-3", "the fleet"
    nlohmann::json to_json() const;
};

struct ReplyRecord {
    std::string device_id;
    nlohmann::json reply; // the reply document as received (null for a bad reply)
    bool ok = false;
    bool expected = false;
    double latency_ms = 0;
    std::string problem; // why a reply is bad (not JSON, no device_id): "" for good ones

    // "code: message" of an error reply, or the problem of a bad one.
    std::string error_text() const;
};

struct MissingDevice {
    std::string device_id;
    std::string state; // per its retained status: "online", "offline" or "unknown"
};

struct CommandOutcome {
    std::string op;
    nlohmann::json args;
    Target target;
    std::vector<std::string> expected;
    std::vector<ReplyRecord> replies; // in arrival order
    std::vector<MissingDevice> missing;
    // Offline devices whose groups could not be learned: they may belong to the group.
    std::vector<std::string> membership_unknown;
    double elapsed_ms = 0;

    size_t ok_count() const;
    // 0 every expected device answered ok (and no answer was an error); 1 no ok answer
    // at all; 3 some ok answers, but a device did not answer or some answer was an error.
    int exit_code() const;
    nlohmann::json to_json() const;
};

} // namespace tierctl
