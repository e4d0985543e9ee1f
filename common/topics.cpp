#include "common/topics.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace tierd::topics {

namespace {

constexpr std::string_view kDevicePrefix = "tierd/v1/dev/";

// The leaves in DeviceLeaf order.
constexpr std::array<std::string_view, 9> kLeafNames = {
    "status", "telemetry", "cmd", "reply", "results", "input", "offload/reply", "profile", "plugin",
};

bool all_of_chars(std::string_view s, bool upper, std::string_view extra) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               (upper && c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
    });
}

std::string join(std::initializer_list<std::string_view> parts) {
    std::size_t size = 0;
    for (auto p : parts)
        size += p.size();
    std::string out;
    out.reserve(size);
    for (auto p : parts)
        out.append(p);
    return out;
}

// Takes the first level off `rest` ("a/b/c" -> "a", rest "b/c"; "a" -> "a", rest "", and
// `more` false). nullopt when that level is not a valid one.
std::optional<std::string_view> take_level(std::string_view &rest, bool &more) {
    const auto slash = rest.find('/');
    const std::string_view level = rest.substr(0, slash);
    more = slash != std::string_view::npos;
    rest = more ? rest.substr(slash + 1) : std::string_view();
    if (!is_topic_level(level))
        return std::nullopt;
    return level;
}

// "<name>/<leaf>" with exactly these two levels: the name, or nullopt.
std::optional<std::string_view> name_then(std::string_view rest, std::string_view leaf) {
    bool more = false;
    auto name = take_level(rest, more);
    if (!name || !more || rest != leaf)
        return std::nullopt;
    return name;
}

std::optional<DeviceTopic> parse_device_rest(std::string_view rest) {
    bool more = false;
    auto id = take_level(rest, more);
    if (!id || !more)
        return std::nullopt;
    DeviceTopic out;
    out.device_id = *id;
    constexpr std::string_view kPlugin = "plugin/";
    if (rest.substr(0, kPlugin.size()) == kPlugin) {
        rest.remove_prefix(kPlugin.size());
        auto name = take_level(rest, more);
        if (!name || !more || !is_plugin_subtopic(rest))
            return std::nullopt;
        out.leaf = DeviceLeaf::plugin;
        out.plugin_name = *name;
        out.plugin_subtopic = rest;
        return out;
    }
    for (std::size_t i = 0; i + 1 < kLeafNames.size(); ++i) // every leaf but plugin
        if (rest == kLeafNames[i]) {
            out.leaf = static_cast<DeviceLeaf>(i);
            return out;
        }
    return std::nullopt;
}

} // namespace

bool is_topic_level(std::string_view level) {
    // A plain loop: find_first_of with a set of four is a call per character, and routers
    // run this on every message.
    for (const char c : level)
        if (c == '/' || c == '+' || c == '#' || c == '\0')
            return false;
    return !level.empty();
}

bool is_device_id(std::string_view device_id) {
    return all_of_chars(device_id, true, "_.-");
}

bool is_group_name(std::string_view group) {
    return all_of_chars(group, false, "_-");
}

bool is_plugin_subtopic(std::string_view subtopic) {
    return !subtopic.empty() && subtopic.front() != '/' && subtopic.back() != '/' &&
           subtopic.find("//") == subtopic.npos &&
           subtopic.find_first_of(std::string_view("+#\0", 3)) == subtopic.npos;
}

std::string topic_level_from(std::string_view text) {
    std::string out(text);
    for (char &c : out)
        if (c == '/' || c == '+' || c == '#' || c == '\0')
            c = '_';
    return out;
}

std::string_view leaf_name(DeviceLeaf leaf) {
    return kLeafNames[static_cast<std::size_t>(leaf)];
}

std::string device_topic(std::string_view device_id, DeviceLeaf leaf) {
    return join({kDevicePrefix, device_id, "/", leaf_name(leaf)});
}

std::string plugin_topic(std::string_view device_id, std::string_view plugin_name,
                         std::string_view subtopic) {
    return join({kDevicePrefix, device_id, "/plugin/", plugin_name, "/", subtopic});
}

std::string every_device_filter(DeviceLeaf leaf) {
    if (leaf == DeviceLeaf::plugin)
        return join({kDevicePrefix, "+/plugin/#"});
    return join({kDevicePrefix, "+/", leaf_name(leaf)});
}

std::string group_command_topic(std::string_view group) {
    return join({"tierd/v1/group/", group, "/cmd"});
}

std::string offload_request_topic(std::string_view tier) {
    return join({"tierd/v1/offload/", tier, "/req"});
}

std::string offload_request_share_filter(std::string_view tier) {
    return join({"$share/tierd-", tier, "/tierd/v1/offload/", tier, "/req"});
}

std::string console_reply_topic(std::string_view client) {
    return join({"tierd/v1/console/", client, "/reply"});
}

std::optional<DeviceTopic> parse_device_topic(std::string_view topic) {
    if (topic.substr(0, kDevicePrefix.size()) != kDevicePrefix)
        return std::nullopt;
    return parse_device_rest(topic.substr(kDevicePrefix.size()));
}

std::optional<Topic> parse_topic(std::string_view topic) {
    constexpr std::string_view kPrefix = "tierd/v1/";
    if (topic.substr(0, kPrefix.size()) != kPrefix)
        return std::nullopt;
    std::string_view rest = topic.substr(kPrefix.size());
    bool more = false;
    auto section = take_level(rest, more);
    if (!section || !more)
        return std::nullopt;
    Topic out;
    if (*section == "dev") {
        auto device = parse_device_rest(rest);
        if (!device)
            return std::nullopt;
        out.kind = TopicKind::device;
        out.name = device->device_id;
        out.device = *device;
        return out;
    }
    if (*section == "fleet") {
        if (rest != "cmd")
            return std::nullopt;
        out.kind = TopicKind::fleet_command;
        return out;
    }
    static constexpr std::array<std::pair<std::string_view, std::pair<TopicKind, std::string_view>>,
                                3>
        kNamed = {{{"group", {TopicKind::group_command, "cmd"}},
                   {"offload", {TopicKind::offload_request, "req"}},
                   {"console", {TopicKind::console_reply, "reply"}}}};
    for (const auto &[name, kind_leaf] : kNamed) {
        if (*section != name)
            continue;
        auto level = name_then(rest, kind_leaf.second);
        if (!level)
            return std::nullopt;
        out.kind = kind_leaf.first;
        out.name = *level;
        return out;
    }
    return std::nullopt;
}

} // namespace tierd::topics
