// The topic table against docs/mqtt.md: every builder's exact string, parse round trips,
// and what a router must refuse (other prefixes, wildcards, empty or extra levels, NUL).
#include "common/topics.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using namespace std::string_literals;
using namespace tierd::topics;

const std::vector<std::pair<DeviceLeaf, std::string>> kLeaves = {
    {DeviceLeaf::status, "status"},   {DeviceLeaf::telemetry, "telemetry"},
    {DeviceLeaf::cmd, "cmd"},         {DeviceLeaf::reply, "reply"},
    {DeviceLeaf::results, "results"}, {DeviceLeaf::input, "input"},
    {DeviceLeaf::profile, "profile"}, {DeviceLeaf::offload_reply, "offload/reply"},
};

// Builds the topic a parsed Topic came from: the inverse of parse_topic.
std::string rebuild(const Topic &t) {
    switch (t.kind) {
    case TopicKind::device:
        return t.device.leaf == DeviceLeaf::plugin
                   ? plugin_topic(t.name, t.device.plugin_name, t.device.plugin_subtopic)
                   : device_topic(t.name, t.device.leaf);
    case TopicKind::fleet_command: return std::string(kFleetCommand);
    case TopicKind::group_command: return group_command_topic(t.name);
    case TopicKind::offload_request: return offload_request_topic(t.name);
    case TopicKind::console_reply: return console_reply_topic(t.name);
    }
    return {};
}

TEST(Topics, DeviceTopicsAreTheContractsStrings) {
    for (const auto &[leaf, name] : kLeaves)
        EXPECT_EQ(device_topic("cam-17", leaf), "tierd/v1/dev/cam-17/" + name);
    EXPECT_EQ(plugin_topic("cam-17", "hello-brightness", "last"),
              "tierd/v1/dev/cam-17/plugin/hello-brightness/last");
}

TEST(Topics, FleetGroupOffloadAndConsoleTopicsAreTheContractsStrings) {
    EXPECT_EQ(kFleetCommand, "tierd/v1/fleet/cmd");
    EXPECT_EQ(group_command_topic("site-3"), "tierd/v1/group/site-3/cmd");
    EXPECT_EQ(offload_request_topic("edge"), "tierd/v1/offload/edge/req");
    EXPECT_EQ(offload_request_share_filter("cloud"),
              "$share/tierd-cloud/tierd/v1/offload/cloud/req");
    EXPECT_EQ(console_reply_topic("tierctl-4711"), "tierd/v1/console/tierctl-4711/reply");
}

TEST(Topics, EveryDeviceFiltersUseOneLevelWildcard) {
    EXPECT_EQ(every_device_filter(DeviceLeaf::status), kEveryStatusFilter);
    EXPECT_EQ(every_device_filter(DeviceLeaf::telemetry), kEveryTelemetryFilter);
    EXPECT_EQ(every_device_filter(DeviceLeaf::profile), kEveryProfileFilter);
    EXPECT_EQ(kEveryStatusFilter, "tierd/v1/dev/+/status");
    EXPECT_EQ(every_device_filter(DeviceLeaf::offload_reply), "tierd/v1/dev/+/offload/reply");
    EXPECT_EQ(every_device_filter(DeviceLeaf::plugin), "tierd/v1/dev/+/plugin/#");
}

TEST(Topics, DeviceTopicsParseBackToIdAndLeaf) {
    for (const std::string &id :
         std::vector<std::string>{"cam-17", "a", "Edge_1.local", "x" + std::string(5000, 'y')})
        for (const auto &[leaf, name] : kLeaves) {
            const std::string topic = device_topic(id, leaf);
            auto parsed = parse_device_topic(topic);
            ASSERT_TRUE(parsed) << topic;
            EXPECT_EQ(parsed->device_id, id);
            EXPECT_EQ(parsed->leaf, leaf);
            EXPECT_EQ(leaf_name(parsed->leaf), name);
            EXPECT_TRUE(parsed->plugin_name.empty());
            auto any = parse_topic(topic);
            ASSERT_TRUE(any) << topic;
            EXPECT_EQ(any->kind, TopicKind::device);
            EXPECT_EQ(any->name, id);
            EXPECT_EQ(any->device, *parsed);
        }
}

TEST(Topics, PluginTopicsKeepTheirWholeSubtopic) {
    auto parsed = parse_device_topic("tierd/v1/dev/cam-1/plugin/fusion-x/tracks/0/boxes");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->device_id, "cam-1");
    EXPECT_EQ(parsed->leaf, DeviceLeaf::plugin);
    EXPECT_EQ(parsed->plugin_name, "fusion-x");
    EXPECT_EQ(parsed->plugin_subtopic, "tracks/0/boxes");
    // The views point into the parsed string.
    const std::string topic = plugin_topic("d", "p", "s");
    auto again = parse_device_topic(topic);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->plugin_subtopic.data(), topic.data() + topic.size() - 1);
}

// Parsing a temporary std::string would leave the views dangling: it does not compile.
template <typename S>
concept ParsableTopic = requires(S &&s) {
    parse_topic(std::forward<S>(s));
};
template <typename S>
concept ParsableDeviceTopic = requires(S &&s) {
    parse_device_topic(std::forward<S>(s));
};
static_assert(ParsableTopic<const std::string &> && ParsableTopic<std::string &> &&
              ParsableTopic<std::string_view> && ParsableTopic<const char *>);
static_assert(!ParsableTopic<std::string> && !ParsableTopic<std::string &&>);
static_assert(ParsableDeviceTopic<const std::string &> && !ParsableDeviceTopic<std::string>);

TEST(Topics, CommandOffloadAndConsoleTopicsParse) {
    auto fleet = parse_topic("tierd/v1/fleet/cmd");
    ASSERT_TRUE(fleet);
    EXPECT_EQ(fleet->kind, TopicKind::fleet_command);
    EXPECT_TRUE(fleet->name.empty());

    const std::string group_topic = group_command_topic("line-3");
    auto group = parse_topic(group_topic);
    ASSERT_TRUE(group);
    EXPECT_EQ(group->kind, TopicKind::group_command);
    EXPECT_EQ(group->name, "line-3");

    const std::string offload_topic = offload_request_topic("edge");
    auto offload = parse_topic(offload_topic);
    ASSERT_TRUE(offload);
    EXPECT_EQ(offload->kind, TopicKind::offload_request);
    EXPECT_EQ(offload->name, "edge");

    const std::string console_topic = console_reply_topic("tierctl-1");
    auto console = parse_topic(console_topic);
    ASSERT_TRUE(console);
    EXPECT_EQ(console->kind, TopicKind::console_reply);
    EXPECT_EQ(console->name, "tierctl-1");

    EXPECT_FALSE(parse_device_topic("tierd/v1/fleet/cmd"));
}

TEST(Topics, RefusesWhatIsNotATopicOfTheContract) {
    const std::vector<std::string> hostile = {
        "",
        "tierd",
        "tierd/v1",
        "tierd/v1/",
        "tierd/v2/dev/a/status",
        "xtierd/v1/dev/a/status",
        "/tierd/v1/dev/a/status",
        "tierd/v1/dev",
        "tierd/v1/dev/",
        "tierd/v1/dev/a",
        "tierd/v1/dev/a/",
        "tierd/v1/dev//status",
        "tierd/v1/dev/+/status",
        "tierd/v1/dev/#",
        "tierd/v1/dev/a+b/status",
        "tierd/v1/dev/a#/status",
        "tierd/v1/dev/a/status/",
        "tierd/v1/dev/a/status/extra",
        "tierd/v1/dev/a/STATUS",
        "tierd/v1/dev/a/unknown",
        "tierd/v1/dev/a/offload",
        "tierd/v1/dev/a/offload/",
        "tierd/v1/dev/a/offload/reply/x",
        "tierd/v1/dev/a/plugin",
        "tierd/v1/dev/a/plugin/",
        "tierd/v1/dev/a/plugin/p",
        "tierd/v1/dev/a/plugin/p/",
        "tierd/v1/dev/a/plugin//s",
        "tierd/v1/dev/a/plugin/p/s/",
        "tierd/v1/dev/a/plugin/p/x//y",
        "tierd/v1/dev/a/plugin/p/+",
        "tierd/v1/dev/a/plugin/p/#",
        "tierd/v1/dev/a\0b/status"s,
        "tierd/v1/dev/a/status\0"s,
        "tierd/v1/fleet",
        "tierd/v1/fleet/",
        "tierd/v1/fleet/cmd/",
        "tierd/v1/fleet/reply",
        "tierd/v1/group/cmd",
        "tierd/v1/group//cmd",
        "tierd/v1/group/+/cmd",
        "tierd/v1/group/g/cmd/x",
        "tierd/v1/group/g/req",
        "tierd/v1/offload/edge",
        "tierd/v1/offload/edge/reply",
        "tierd/v1/offload/+/req",
        "tierd/v1/console/c/cmd",
        "tierd/v1/console//reply",
        "tierd/v1/other/x/cmd",
        "$share/tierd-edge/tierd/v1/offload/edge/req",
    };
    for (const auto &topic : hostile) {
        EXPECT_FALSE(parse_topic(topic)) << "accepted: " << topic;
        EXPECT_FALSE(parse_device_topic(topic)) << "accepted: " << topic;
    }
}

// Whatever parses must be exactly what the builders make of its parts: no two topics
// read as the same message, and nothing is lost in the parse.
TEST(Topics, EveryParsedTopicRebuildsToItself) {
    const std::string alphabet = "tierdv1/devcmdfleetgroupoffloadreqconsolereplystatuspluginx+#";
    std::mt19937 rng(20261205);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1), length(0, 40);
    const std::vector<std::string> stems = {"tierd/v1/", "tierd/v1/dev/", "tierd/v1/dev/a/",
                                            "tierd/v1/dev/a/plugin/", "tierd/v1/group/"};
    int parsed = 0;
    for (int i = 0; i < 200000; ++i) {
        std::string topic = stems[static_cast<std::size_t>(i) % stems.size()];
        for (std::size_t n = length(rng); n > 0; --n)
            topic += alphabet[pick(rng)];
        if (auto t = parse_topic(topic)) {
            ++parsed;
            ASSERT_EQ(rebuild(*t), topic);
        }
        if (auto d = parse_device_topic(topic)) {
            ASSERT_EQ(d->leaf == DeviceLeaf::plugin
                          ? plugin_topic(d->device_id, d->plugin_name, d->plugin_subtopic)
                          : device_topic(d->device_id, d->leaf),
                      topic);
        }
    }
    EXPECT_GT(parsed, 100); // the generator reaches real topics, not only refusals
}

TEST(TopicNames, DeviceIdsAreWhatConfigAccepts) {
    for (const char *ok : {"cam-17", "Cam_1.local", "0", "a-b_c.D"})
        EXPECT_TRUE(is_device_id(ok)) << ok;
    for (const std::string &bad : std::vector<std::string>{""s, "a/b"s, "a+b"s, "a#"s, "a b"s,
                                                           "caf\xc3\xa9"s, "a\0b"s, "$sys"s})
        EXPECT_FALSE(is_device_id(bad)) << bad;
}

TEST(TopicNames, GroupNamesAreWhatConfigAccepts) {
    for (const char *ok : {"line-3", "site_1", "0"})
        EXPECT_TRUE(is_group_name(ok)) << ok;
    for (const std::string &bad :
         std::vector<std::string>{""s, "Line-3"s, "a.b"s, "a/b"s, "a+b"s, "a#"s, "a b"s, "a\0b"s})
        EXPECT_FALSE(is_group_name(bad)) << bad;
}

TEST(TopicNames, TopicLevelsRefuseSeparatorsWildcardsAndNul) {
    for (const char *ok : {"cam 17", "Über", "a.b", "$x"})
        EXPECT_TRUE(is_topic_level(ok)) << ok;
    for (const std::string &bad : std::vector<std::string>{""s, "a/b"s, "+"s, "a#"s, "a\0b"s, "/"s})
        EXPECT_FALSE(is_topic_level(bad)) << bad;
    EXPECT_EQ(topic_level_from("user/host+1#\0x"s), "user_host_1__x");
    EXPECT_EQ(topic_level_from("tierctl-42"), "tierctl-42");
    EXPECT_TRUE(is_topic_level(topic_level_from("a/+/#")));
}

TEST(TopicNames, PluginSubtopicsAsThePublishServiceTakesThem) {
    for (const char *ok : {"last", "a/b/c", "x.y"})
        EXPECT_TRUE(is_plugin_subtopic(ok)) << ok;
    for (const std::string &bad :
         std::vector<std::string>{""s, "/a"s, "a/"s, "a//b"s, "a/+"s, "#"s, "a\0b"s})
        EXPECT_FALSE(is_plugin_subtopic(bad)) << bad;
}

} // namespace
