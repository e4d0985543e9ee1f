#include "agent/config/default_config.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace tierd {
namespace {

TEST(DefaultConfig, LoadsCleanly) {
    auto r = load_default_config();
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    const Config &c = *r.config;
    EXPECT_EQ(c.source_file, "<default>");
    // The shipped file documents the same defaults the structs hold.
    Config d;
    EXPECT_EQ(c.agent.role, d.agent.role);
    EXPECT_EQ(c.agent.drain_timeout_ms, d.agent.drain_timeout_ms);
    EXPECT_EQ(c.workers.queue_limit, d.workers.queue_limit);
    EXPECT_EQ(c.mqtt.host, d.mqtt.host);
    EXPECT_EQ(c.mqtt.port, d.mqtt.port);
    EXPECT_EQ(c.mqtt.reconnect_max_ms, d.mqtt.reconnect_max_ms);
    EXPECT_EQ(c.telemetry.interval_ms, d.telemetry.interval_ms);
    EXPECT_EQ(c.hal.profile, d.hal.profile);
    EXPECT_EQ(c.plugins.inference, d.plugins.inference);
}

TEST(DefaultConfig, EmbeddedTextEqualsShippedFile) {
    std::ifstream in(TIERD_DEFAULT_CONFIG_PATH, std::ios::binary);
    ASSERT_TRUE(in);
    std::ostringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(default_config_text(), ss.str());
}

TEST(DefaultConfig, AppliesOverrides) {
    auto r = load_default_config({"mqtt.port=1999"});
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->mqtt.port, 1999);
    auto bad = load_default_config({"mqtt.port=x"});
    ASSERT_EQ(bad.errors.size(), 1u);
    EXPECT_EQ(bad.errors[0].file, "--set mqtt.port");
}

} // namespace
} // namespace tierd
