#include "agent/config/config_changes.hpp"

#include <gtest/gtest.h>

namespace tierd {
namespace {

Config base() {
    auto r = load_config_text("[mqtt]\nport = 1883\n", "t.toml");
    EXPECT_TRUE(r.ok()) << to_string(r.errors);
    return *r.config;
}

TEST(ConfigChanges, AppliesAllChanges) {
    Config c = base();
    auto r = apply_changes(c, {{"mqtt.port", 1884},
                               {"agent.groups", {"a", "b"}},
                               {"plugin.inference-opencv.backend", "cuda"}});
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->mqtt.port, 1884);
    EXPECT_EQ(r.config->agent.groups, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(r.config->plugin_tables.count("inference-opencv"), 1u);
    EXPECT_EQ(c.mqtt.port, 1883); // original untouched
}

TEST(ConfigChanges, IsAllOrNothing) {
    Config c = base();
    auto r = apply_changes(c, {{"mqtt.port", 1884}, {"workers.threads", 999}});
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << to_string(r.errors);
    EXPECT_EQ(r.errors[0].key_path, "workers.threads");
    EXPECT_EQ(r.errors[0].file, "change workers.threads");
    EXPECT_EQ(c.mqtt.port, 1883);
    EXPECT_EQ((*c.document["mqtt"]["port"].value<std::int64_t>()), 1883);
}

TEST(ConfigChanges, RejectsUnknownKeysAndNulls) {
    Config c = base();
    auto r = apply_changes(c, {{"mqtt.prot", 1}, {"mqtt.host", nullptr}});
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.errors.size(), 1u) << to_string(r.errors); // null rejected before validation
    auto r2 = apply_changes(c, {{"mqtt.prot", 1}});
    ASSERT_EQ(r2.errors.size(), 1u);
    EXPECT_EQ(r2.errors[0].key_path, "mqtt.prot");
}

TEST(ConfigChanges, RejectsIntegersBeyondToml) {
    Config c = base();
    // 2^63 fits JSON's unsigned range but not TOML's int64: refused, not wrapped negative.
    auto r = apply_changes(c, {{"spool.max_bytes", 9223372036854775808ull}});
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << to_string(r.errors);
    EXPECT_EQ(r.errors[0].key_path, "spool.max_bytes");
    EXPECT_EQ(r.errors[0].message, "value cannot be represented in TOML");     // not a range error
    auto ok = apply_changes(c, {{"spool.max_bytes", std::uint64_t{1} << 40}}); // the bound
    EXPECT_TRUE(ok.ok()) << to_string(ok.errors);
}

} // namespace
} // namespace tierd
