#include "agent/config/config_loader.hpp"
#include "agent/config/config_overrides.hpp"

#include <gtest/gtest.h>

namespace tierd {
namespace {

TEST(ConfigOverrides, SetOverridesFileValue) {
    auto r =
        load_config_text("[mqtt]\nport = 1883\n", "t.toml",
                         {"mqtt.port=1884", "agent.groups=[\"a\", \"b\"]", "mqtt.host=broker"});
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->mqtt.port, 1884);
    EXPECT_EQ(r.config->agent.groups, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(r.config->mqtt.host, "broker"); // not TOML -> taken as a string
}

TEST(ConfigOverrides, LaterSetWins) {
    auto r = load_config_text("", "t.toml", {"mqtt.port=1", "mqtt.port=2"});
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->mqtt.port, 2);
}

TEST(ConfigOverrides, SetCanCreatePluginTables) {
    auto r = load_config_text("", "t.toml", {"plugin.inference-opencv.backend=cuda"});
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->plugin_tables.at("inference-opencv")["backend"].value_or(std::string()),
              "cuda");
}

TEST(ConfigOverrides, BadSetReportsSetKey) {
    auto r = load_config_text("[mqtt]\nport = 1883\n", "t.toml", {"mqtt.port=abc"});
    ASSERT_EQ(r.errors.size(), 1u) << to_string(r.errors);
    EXPECT_EQ(r.errors[0].file, "--set mqtt.port");
    EXPECT_EQ(r.errors[0].key_path, "mqtt.port");
    EXPECT_EQ(r.errors[0].to_string(),
              "--set mqtt.port: mqtt.port: expected an integer, got string");
}

TEST(ConfigOverrides, OutOfRangeSetReportsSetKey) {
    auto r = load_config_text("", "t.toml", {"mqtt.port=70000"});
    ASSERT_EQ(r.errors.size(), 1u) << to_string(r.errors);
    EXPECT_EQ(r.errors[0].file, "--set mqtt.port");
}

TEST(ConfigOverrides, UnknownSetKeyReportsSetKey) {
    auto r = load_config_text("", "t.toml", {"mqtt.prot=1"});
    ASSERT_EQ(r.errors.size(), 1u) << to_string(r.errors);
    EXPECT_EQ(r.errors[0].file, "--set mqtt.prot");
    EXPECT_NE(r.errors[0].message.find("did you mean 'port'"), std::string::npos);
}

TEST(ConfigOverrides, MalformedSetIsReported) {
    toml::table doc;
    auto errors = apply_overrides(doc, {"mqtt.port", "mqtt.port.x=1"});
    EXPECT_EQ(errors.size(), 1u) << to_string(errors); // second creates mqtt.port.x (fine here)
    EXPECT_EQ(errors[0].file, "--set mqtt.port");
    toml::table doc2 = toml::parse("[mqtt]\nport = 1\n");
    auto errors2 = apply_overrides(doc2, {"mqtt.port.x=1"});
    ASSERT_EQ(errors2.size(), 1u);
    EXPECT_EQ(errors2[0].file, "--set mqtt.port.x");
}

} // namespace
} // namespace tierd
