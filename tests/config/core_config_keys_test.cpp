#include "agent/config/config_key.hpp"
#include "agent/config/core_config_keys.hpp"

#include <gtest/gtest.h>

#include <set>

#include "agent/config/config_json.hpp"
#include "agent/config/config_loader.hpp"
#include "agent/config/core_config_toml.hpp"

namespace tierd {
namespace {

// The declarations themselves: what the table promises every key has.
TEST(CoreConfigKeys, EveryKeyIsWellDeclared) {
    std::set<std::string> sections;
    for (const auto &section : core_config_sections()) {
        EXPECT_TRUE(sections.insert(section.name).second) << "section twice: " << section.name;
        std::set<std::string> names;
        for (const auto &k : section.keys) {
            const std::string path = section.name + "." + k.key.name;
            EXPECT_TRUE(names.insert(k.key.name).second) << "key twice: " << path;
            EXPECT_FALSE(k.key.doc.empty()) << path;
            EXPECT_NE(k.store, nullptr) << path;
            EXPECT_NE(k.load, nullptr) << path;
            const ConfigValue &d = k.key.default_value;
            if (k.key.list) {
                EXPECT_TRUE(std::holds_alternative<std::vector<std::string>>(d)) << path;
                continue;
            }
            switch (k.key.type) {
            case TIERD_CONFIG_BOOL: EXPECT_TRUE(std::holds_alternative<bool>(d)) << path; break;
            case TIERD_CONFIG_INT:
                EXPECT_TRUE(std::holds_alternative<std::int64_t>(d)) << path;
                break;
            case TIERD_CONFIG_DOUBLE: EXPECT_TRUE(std::holds_alternative<double>(d)) << path; break;
            case TIERD_CONFIG_ENUM:
                ASSERT_TRUE(std::holds_alternative<std::string>(d)) << path;
                EXPECT_FALSE(k.key.choices.empty()) << path;
                break;
            case TIERD_CONFIG_STRING:
            case TIERD_CONFIG_PATH:
                EXPECT_TRUE(std::holds_alternative<std::string>(d)) << path;
                break;
            }
            if (k.key.type == TIERD_CONFIG_INT || k.key.type == TIERD_CONFIG_DOUBLE) {
                EXPECT_TRUE(k.key.min && k.key.max) << "a number without a range: " << path;
            }
        }
    }
    EXPECT_EQ(sections.count(std::string(kPluginTablesKey)), 0u);
}

// Each default is Config{}'s value and passes the key's own checks: the rendered core
// file loads back as exactly the default Config.
TEST(CoreConfigKeys, RenderedDefaultsLoadBackAsTheDefaultConfig) {
    auto rendered = load_config_text(render_core_config_toml(), "rendered.toml");
    ASSERT_TRUE(rendered.ok()) << to_string(rendered.errors);
    auto empty = load_config_text("", "empty.toml");
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(to_json(*rendered.config), to_json(*empty.config));
    EXPECT_EQ(to_json(*empty.config), to_json(Config{}));
}

// The JSON view and the table list the same keys, section by section.
TEST(CoreConfigKeys, JsonViewShowsEveryKeyOfTheTable) {
    auto j = to_json(Config{});
    std::size_t sections = 0;
    for (const auto &section : core_config_sections()) {
        ASSERT_TRUE(j.contains(section.name)) << section.name;
        EXPECT_EQ(j[section.name].size(), section.keys.size()) << section.name;
        for (const auto &k : section.keys)
            EXPECT_TRUE(j[section.name].contains(k.key.name)) << section.name << "." << k.key.name;
        ++sections;
    }
    EXPECT_EQ(j.size(), sections + 1); // and "plugin"
}

TEST(CoreConfigKeys, SecretsComeFromTheTable) {
    std::vector<std::string> secret_keys;
    for (const auto &section : core_config_sections())
        for (const auto &k : section.keys)
            if (k.key.secret())
                secret_keys.push_back(section.name + "." + k.key.name);
    EXPECT_EQ(secret_keys, std::vector<std::string>{"mqtt.password"});
    auto r = load_config_text("[mqtt]\npassword = 12345\n", "t.toml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].message, "expected a string, got integer");
}

TEST(CoreConfigKeys, TypeErrorsUseOneVocabulary) {
    auto r = load_config_text("[telemetry]\ndurable = \"yes\"\n[source]\nrate_hz = true\n"
                              "[agent]\nrole = 3\n",
                              "t.toml");
    // In the file's order.
    ASSERT_EQ(r.errors.size(), 3u) << to_string(r.errors);
    EXPECT_EQ(r.errors[0].message, "expected a boolean, got string");
    EXPECT_EQ(r.errors[1].message, "expected a number, got boolean");
    EXPECT_EQ(r.errors[2].message, "expected a string, got integer");
}

} // namespace
} // namespace tierd

// Numbers in messages: whole ones as integers, the rest in their shortest form, and
// values far outside int64's range without a cast that is undefined (the fuzzer found
// `mean = -1e36` in a plugin table).
TEST(FormatNumber, WholeFractionalAndHugeValues) {
    EXPECT_EQ(tierd::format_number(100000), "100000");
    EXPECT_EQ(tierd::format_number(-3), "-3");
    EXPECT_EQ(tierd::format_number(0.25), "0.25");
    EXPECT_EQ(tierd::format_number(1e36), "1e+36");
    EXPECT_EQ(tierd::format_number(-1e36), "-1e+36");
    EXPECT_EQ(tierd::format_number(1e300 * 1e300), "inf");
}
