#include "agent/config/core_config_toml.hpp"
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

// config/tierd.toml is generated: its core part must be what the key table renders now.
TEST(DefaultConfig, ShippedFileIsGeneratedFromKeyTable) {
    std::ifstream in(TIERD_DEFAULT_CONFIG_PATH, std::ios::binary);
    ASSERT_TRUE(in);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string shipped = ss.str();
    const std::string core = render_core_config_toml();
    const auto at = shipped.find(kPluginSectionsHeading);
    ASSERT_NE(at, std::string::npos) << "config/tierd.toml lacks the plugin sections' heading";
    const std::string shipped_core = shipped.substr(0, at);
    if (shipped_core != core) {
        // Name the first line that differs: the whole texts are long.
        std::istringstream a(shipped_core), b(core);
        std::string la, lb;
        int line = 0;
        while (true) {
            ++line;
            const bool more_a = static_cast<bool>(std::getline(a, la));
            const bool more_b = static_cast<bool>(std::getline(b, lb));
            if (!more_a && !more_b)
                break;
            if (la != lb || more_a != more_b) {
                ADD_FAILURE() << "config/tierd.toml differs from the key table at line " << line
                              << ":\n  file:  " << (more_a ? la : "<end>")
                              << "\n  table: " << (more_b ? lb : "<end>")
                              << "\nregenerate it: ninja regenerate-default-config";
                break;
            }
        }
    }
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
