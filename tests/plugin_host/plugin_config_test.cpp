#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/plugin_host/plugin_config.hpp"

namespace tierd {
namespace {

using ::testing::HasSubstr;

class PluginConfig : public ::testing::Test {
  protected:
    void SetUp() override {
        auto r = PluginLibrary::open(GOOD_PLUGIN_PATH);
        ASSERT_TRUE(r.ok()) << r.error;
        library = r.library;
    }

    // Parses `text` as tierd.toml and validates its [plugin.test-good] table.
    PluginConfigResult validate(const std::string &text) {
        doc = toml::parse(text, std::string_view("tierd.toml"));
        const toml::table *table = doc["plugin"]["test-good"].as_table();
        return validate_plugin_config(library->descriptor(), table, "tierd.toml");
    }

    std::shared_ptr<PluginLibrary> library;
    toml::table doc;
};

TEST_F(PluginConfig, AbsentTableGivesEveryDefault) {
    auto r = validate_plugin_config(library->descriptor(), nullptr, "tierd.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    const PluginConfigValues &v = *r.values;
    EXPECT_EQ(v.plugin_name, "test-good");
    EXPECT_EQ(v.entries.size(), 7u);
    EXPECT_EQ(std::get<std::int64_t>(v.find("threads")->value), 4);
    EXPECT_EQ(std::get<std::string>(v.find("backend")->value), "cpu");
    EXPECT_EQ(std::get<bool>(v.find("warmup")->value), true);
    EXPECT_EQ(std::get<std::string>(v.find("model")->value), "");
    EXPECT_EQ(std::get<std::string>(v.find("label")->value), "good \"one\"");
    EXPECT_EQ(std::get<double>(v.find("scale")->value), 0.5);
    EXPECT_TRUE(v.find("threads")->from_default);
    EXPECT_EQ(v.find("nope"), nullptr);
}

TEST_F(PluginConfig, FileValuesOverrideDefaults) {
    auto r = validate("[plugin.test-good]\nthreads = 8\nbackend = \"cuda\"\nscale = 2\n"
                      "warmup = false\n");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(std::get<std::int64_t>(r.values->find("threads")->value), 8);
    EXPECT_FALSE(r.values->find("threads")->from_default);
    EXPECT_EQ(std::get<std::string>(r.values->find("backend")->value), "cuda");
    EXPECT_EQ(std::get<double>(r.values->find("scale")->value), 2.0); // integer accepted
    EXPECT_EQ(std::get<bool>(r.values->find("warmup")->value), false);
}

TEST_F(PluginConfig, ValidatesPluginTableWithLineAndColumn) {
    auto r = validate("[agent]\n"
                      "[plugin.test-good]\n"
                      "threads = 99\n"
                      "  colour = \"red\"\n"
                      "backend = \"tpu\"\n"
                      "warmup = \"yes\"\n");
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 4u) << to_string(r.errors);
    std::map<std::string, ConfigError> by_key;
    for (const auto &e : r.errors)
        by_key[e.key_path] = e;

    const ConfigError &threads = by_key.at("plugin.test-good.threads");
    EXPECT_EQ(threads.file, "tierd.toml");
    EXPECT_EQ(threads.line, 3);
    EXPECT_EQ(threads.column, 11);
    EXPECT_EQ(threads.message, "must be at most 16 (got 99)");
    EXPECT_EQ(threads.to_string(),
              "tierd.toml:3:11: plugin.test-good.threads: must be at most 16 (got 99)");

    const ConfigError &colour = by_key.at("plugin.test-good.colour");
    EXPECT_EQ(colour.line, 4);
    EXPECT_EQ(colour.column, 3);
    EXPECT_THAT(colour.message, HasSubstr("unknown key; accepted keys: threads, backend"));

    const ConfigError &backend = by_key.at("plugin.test-good.backend");
    EXPECT_EQ(backend.line, 5);
    EXPECT_EQ(backend.message, "must be one of cpu|cuda (got \"tpu\")");

    const ConfigError &warmup = by_key.at("plugin.test-good.warmup");
    EXPECT_EQ(warmup.line, 6);
    EXPECT_EQ(warmup.message, "expected a boolean, got string");
}

TEST_F(PluginConfig, RejectsWrongTypesAndRanges) {
    auto r = validate("[plugin.test-good]\nthreads = 2.5\nscale = -1.0\nlabel = 3\n"
                      "[plugin.test-good.sub]\n");
    ASSERT_EQ(r.errors.size(), 4u) << to_string(r.errors);
    EXPECT_EQ(r.errors[0].key_path, "plugin.test-good.label");
    EXPECT_EQ(r.errors[0].message, "expected a string, got integer");
    EXPECT_EQ(r.errors[1].message, "must be at least 0 (got -1)");
    EXPECT_THAT(r.errors[2].key_path, "plugin.test-good.sub");
    EXPECT_THAT(r.errors[2].message, HasSubstr("unknown key"));
    EXPECT_EQ(r.errors[3].message, "expected an integer, got float");
}

TEST_F(PluginConfig, ChecksThatMustExistPathsAreReadableFiles) {
    auto r = validate("[plugin.test-good]\nmodel = \"/nonexistent/model.onnx\"\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].message, "no readable file at \"/nonexistent/model.onnx\"");
    EXPECT_EQ(r.errors[0].line, 2);

    auto file = std::filesystem::temp_directory_path() / "tierd-plugin-host-model.onnx";
    std::ofstream(file) << "weights";
    auto ok = validate("[plugin.test-good]\nmodel = \"" + file.string() + "\"\n");
    EXPECT_TRUE(ok.ok()) << to_string(ok.errors);
    std::filesystem::remove(file);
}

TEST_F(PluginConfig, NeverShowsSecretValues) {
    auto r = validate("[plugin.test-good]\ntoken = \"hunter2\"\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.values->redacted_json()["token"], "<redacted>");
    EXPECT_EQ(r.values->redacted_json()["threads"], 4);
    EXPECT_EQ(r.values->redacted_json().dump().find("hunter2"), std::string::npos);
}

TEST_F(PluginConfig, OverrideSourcesCarryNoPosition) {
    doc = toml::parse("[plugin.test-good]\nthreads = 0\n",
                      std::string_view("--set plugin.test-good.threads"));
    auto r = validate_plugin_config(library->descriptor(), doc["plugin"]["test-good"].as_table(),
                                    "tierd.toml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].file, "--set plugin.test-good.threads");
    EXPECT_EQ(r.errors[0].line, 0);
}

TEST_F(PluginConfig, RendersDefaultsFromDeclarations) {
    const std::string text = render_default_toml(library->descriptor());
    EXPECT_EQ(text, "# test-good 1.2.3: well-behaved test plugin\n"
                    "[plugin.test-good]\n"
                    "# Worker threads for inference.\n"
                    "# range: [1, 16]\n"
                    "threads = 4\n"
                    "\n"
                    "# Compute backend.\n"
                    "# choices: cpu|cuda\n"
                    "backend = \"cpu\"\n"
                    "\n"
                    "# Run one dummy inference at start.\n"
                    "warmup = true\n"
                    "\n"
                    "# Model file.\n"
                    "# must name a readable file (\"\" = unset)\n"
                    "model = \"\"\n"
                    "\n"
                    "# Name reported as the model.\n"
                    "label = \"good \\\"one\\\"\"\n"
                    "\n"
                    "# Score scale.\n"
                    "# range: >= 0\n"
                    "scale = 0.5\n"
                    "\n"
                    "# API token.\n"
                    "# secret: never logged or shown in status\n"
                    "token = \"\"\n");
}

TEST_F(PluginConfig, RenderedDefaultsReadBackAsTheDefaults) {
    auto r = validate(render_default_toml(library->descriptor()));
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    auto defaults = validate_plugin_config(library->descriptor(), nullptr, "<default>");
    EXPECT_TRUE(*r.values == *defaults.values);
}

} // namespace
} // namespace tierd
