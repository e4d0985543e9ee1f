// The MQTT topics of tierd's contract (docs/mqtt.md, version 1), in one table: every
// topic an agent, tierctl or a tool publishes or subscribes to is built here, and an
// incoming topic is parsed back here, so that a router matches a message with one call
// instead of comparing and cutting strings.
//
// Builders take names that are already valid topic levels (is_topic_level; agents
// validate device ids and groups at config time, tierctl at the command line): they do
// not check again, so that building a topic per message stays cheap. Parsers accept any
// bytes and answer nullopt for anything that is not a topic of the contract.
//
// Pure functions; any thread.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tierd::topics {

// The prefix of every topic; its version changes only with an incompatible contract.
inline constexpr std::string_view kRoot = "tierd/v1";

// ---- Names ------------------------------------------------------------------------

// True for a string that is safe as one topic level: not empty, and without '/', the
// wildcards '+' and '#', or NUL. What tierctl asks of the names on its command line.
bool is_topic_level(std::string_view level);

// agent.device_id as config validates it: [A-Za-z0-9_.-]+ (a topic level, and the MQTT
// client id and ACL user name of the device).
bool is_device_id(std::string_view device_id);

// An entry of agent.groups as config validates it: [a-z0-9_-]+.
bool is_group_name(std::string_view group);

// A plugin's subtopic under tierd/v1/dev/<id>/plugin/<name>/ as the host's publish service
// accepts it (docs/plugins.md): not empty, no leading or trailing '/', no "//", no '+',
// '#' or NUL.
bool is_plugin_subtopic(std::string_view subtopic);

// `text` made into a topic level: '/', '+', '#' and NUL become '_' (an empty text stays
// empty, which is not a level). For names a console picks itself, such as its client id.
std::string topic_level_from(std::string_view text);

// ---- A device's own topics: tierd/v1/dev/<device-id>/<leaf> ------------------------

enum class DeviceLeaf : std::uint8_t {
    status,        // retained status document; the last will says "offline"
    telemetry,     // periodic telemetry document
    cmd,           // command requests to this device
    reply,         // command replies when the request named no response topic
    results,       // one result document per finished task
    input,         // images for an end agent whose source is the topic
    offload_reply, // "offload/reply": answers to this end agent's offload requests
    profile,       // retained measured model profile
    plugin,        // "plugin/<name>/<subtopic>": what a plugin publishes
};

// The leaf as it appears in the topic: "status", ..., "offload/reply", "plugin".
std::string_view leaf_name(DeviceLeaf leaf);

// tierd/v1/dev/<device_id>/<leaf>. Not for DeviceLeaf::plugin (use plugin_topic).
std::string device_topic(std::string_view device_id, DeviceLeaf leaf);

// tierd/v1/dev/<device_id>/plugin/<plugin_name>/<subtopic>.
std::string plugin_topic(std::string_view device_id, std::string_view plugin_name,
                         std::string_view subtopic);

// tierd/v1/dev/+/<leaf>: that leaf of every device (status, telemetry, profile, ...).
// For DeviceLeaf::plugin: tierd/v1/dev/+/plugin/# (everything plugins publish).
std::string every_device_filter(DeviceLeaf leaf);

inline constexpr std::string_view kEveryStatusFilter = "tierd/v1/dev/+/status";
inline constexpr std::string_view kEveryTelemetryFilter = "tierd/v1/dev/+/telemetry";
inline constexpr std::string_view kEveryProfileFilter = "tierd/v1/dev/+/profile";

// ---- Commands to many devices -----------------------------------------------------

// Every agent subscribes to it.
inline constexpr std::string_view kFleetCommand = "tierd/v1/fleet/cmd";

// tierd/v1/group/<group>/cmd: agents with <group> in agent.groups subscribe to it.
std::string group_command_topic(std::string_view group);

// ---- Offload between tiers --------------------------------------------------------

// tierd/v1/offload/<tier>/req: where an end agent sends requests for a tier ("edge",
// "cloud").
std::string offload_request_topic(std::string_view tier);

// $share/tierd-<tier>/tierd/v1/offload/<tier>/req: the shared subscription through which
// the agents of a tier split its requests (the broker hands each to one of them; messages
// arrive on offload_request_topic(tier)).
std::string offload_request_share_filter(std::string_view tier);

// ---- Consoles ---------------------------------------------------------------------

// tierd/v1/console/<client>/reply: the response topic a console names in its requests
// (the shipped ACL lets devices write there and only consoles read). `client` must be a
// topic level: topic_level_from(client id).
std::string console_reply_topic(std::string_view client);

// ---- Parsing ----------------------------------------------------------------------

// A device topic taken apart. The views point into the parsed string: they are valid
// while it is.
struct DeviceTopic {
    std::string_view device_id;
    DeviceLeaf leaf = DeviceLeaf::status;
    std::string_view plugin_name;     // leaf == plugin only, else ""
    std::string_view plugin_subtopic; // leaf == plugin only, else "" (may hold '/')

    bool operator==(const DeviceTopic &) const = default;
};

// tierd/v1/dev/<id>/<leaf> with a known leaf and a valid <id> (and, for plugin topics, a
// valid plugin name and subtopic); nullopt for anything else.
std::optional<DeviceTopic> parse_device_topic(std::string_view topic);
// A temporary std::string is refused at compile time: the result would point into a string
// about to be destroyed. Keep the string alive (a message's topic, a named variable).
template <typename S>
requires std::same_as<S, std::string> std::optional<DeviceTopic> parse_device_topic(S &&topic)
= delete;

enum class TopicKind : std::uint8_t {
    device,          // tierd/v1/dev/<id>/...        name = device id, device = the rest
    fleet_command,   // tierd/v1/fleet/cmd           name = ""
    group_command,   // tierd/v1/group/<g>/cmd       name = group
    offload_request, // tierd/v1/offload/<tier>/req  name = tier
    console_reply,   // tierd/v1/console/<c>/reply   name = console client level
};

// Any topic of the contract taken apart: what a router switches on. Views as above.
struct Topic {
    TopicKind kind = TopicKind::device;
    std::string_view name;
    DeviceTopic device; // kind == device only

    bool operator==(const Topic &) const = default;
};

// nullopt for a topic outside the contract (another prefix, an unknown leaf, an empty or
// wildcard level, extra levels).
std::optional<Topic> parse_topic(std::string_view topic);
template <typename S>
requires std::same_as<S, std::string> std::optional<Topic> parse_topic(S &&topic)
= delete; // as parse_device_topic

} // namespace tierd::topics
