#include "agent/config/config_json.hpp"
#include "agent/config/config_loader.hpp"

#include <gtest/gtest.h>

namespace tierd {
namespace {

TEST(ConfigJson, RedactsPassword) {
    auto r = load_config_text("[mqtt]\nusername = \"u\"\npassword = \"hunter2\"\n", "t.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    auto j = to_json(*r.config);
    EXPECT_EQ(j["mqtt"]["password"], "<redacted>");
    EXPECT_EQ(j["mqtt"]["username"], "u");
    EXPECT_EQ(j.dump().find("hunter2"), std::string::npos);
    EXPECT_EQ(secret_values(*r.config), (std::vector<std::string>{"hunter2"}));
}

TEST(ConfigJson, EmptyPasswordIsNotASecret) {
    auto r = load_config_text("", "t.toml");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(to_json(*r.config)["mqtt"]["password"], "");
    EXPECT_TRUE(secret_values(*r.config).empty());
}

TEST(ConfigJson, ShowsEnumsAndPluginTables) {
    auto r = load_config_text(
        "[workers]\noverflow = \"drop-oldest\"\n[plugin.fusion-passthrough]\nx = 1\n", "t.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    auto j = to_json(*r.config);
    EXPECT_EQ(j["workers"]["overflow"], "drop-oldest");
    EXPECT_EQ(j["agent"]["role"], "end");
    EXPECT_EQ(j["plugin"]["fusion-passthrough"]["x"], 1);
}

} // namespace
} // namespace tierd
