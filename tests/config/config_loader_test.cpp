#include "agent/config/config_json.hpp"
#include "agent/config/config_loader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tierd {
namespace {

// Exactly one error, returned for inspection.
ConfigError only_error(const LoadResult &r) {
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.errors.size(), 1u) << to_string(r.errors);
    return r.errors.empty() ? ConfigError{} : r.errors.front();
}

TEST(ConfigLoader, EmptyTextGivesDefaults) {
    auto r = load_config_text("", "empty.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->mqtt.port, 1883);
    EXPECT_EQ(r.config->workers.overflow, OverflowPolicy::reject);
    EXPECT_EQ(r.config->source_file, "empty.toml");
}

TEST(ConfigLoader, ParsesAllSections) {
    auto r = load_config_text(R"(
[agent]
device_id = "cam-01.site_a"
role = "edge"
groups = ["north", "lab_2"]
log_level = "debug"
[workers]
threads = 4
overflow = "drop-oldest"
[mqtt]
port = 8883
reconnect_min_ms = 100
reconnect_max_ms = 100
[plugins]
fusion = ""
[plugin.inference-opencv]
backend = "cpu"
)",
                              "t.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    const Config &c = *r.config;
    EXPECT_EQ(c.agent.device_id, "cam-01.site_a");
    EXPECT_EQ(c.agent.role, Role::edge);
    EXPECT_EQ(c.agent.groups, (std::vector<std::string>{"north", "lab_2"}));
    EXPECT_EQ(c.agent.log_level, LogLevel::debug);
    EXPECT_EQ(c.workers.threads, 4);
    EXPECT_EQ(c.workers.overflow, OverflowPolicy::drop_oldest);
    EXPECT_EQ(c.mqtt.port, 8883);
    EXPECT_EQ(c.plugins.fusion, "");
    ASSERT_EQ(c.plugin_tables.count("inference-opencv"), 1u);
    EXPECT_EQ(c.plugin_tables.at("inference-opencv")["backend"].value_or(std::string()), "cpu");
}

TEST(ConfigLoader, ReportsLineColumnAndKeyForWrongType) {
    auto e = only_error(load_config_text("[mqtt]\nport = \"abc\"\n", "tierd.toml"));
    EXPECT_EQ(e.file, "tierd.toml");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 8);
    EXPECT_EQ(e.key_path, "mqtt.port");
    EXPECT_EQ(e.to_string(), "tierd.toml:2:8: mqtt.port: expected an integer, got string");
}

TEST(ConfigLoader, ReportsLineColumnAndKeyForOutOfRange) {
    auto e = only_error(load_config_text("[workers]\n\nthreads = 65\n", "tierd.toml"));
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 11);
    EXPECT_EQ(e.key_path, "workers.threads");
    EXPECT_NE(e.message.find("0..64"), std::string::npos) << e.message;
}

TEST(ConfigLoader, ReportsLineColumnAndKeyForBadEnum) {
    auto e = only_error(load_config_text("[agent]\nrole = \"fog\"\n", "tierd.toml"));
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 8);
    EXPECT_EQ(e.key_path, "agent.role");
    EXPECT_NE(e.message.find("'edge'"), std::string::npos) << e.message;
}

TEST(ConfigLoader, PipelineSection) {
    auto r =
        load_config_text("[pipeline]\nlocal_first = true\nemulate_slowdown = 28.9\n", "p.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_TRUE(r.config->pipeline.local_first);
    EXPECT_DOUBLE_EQ(r.config->pipeline.emulate_slowdown, 28.9);
    auto defaults = load_config_text("", "d.toml");
    EXPECT_FALSE(defaults.config->pipeline.local_first);
    EXPECT_DOUBLE_EQ(defaults.config->pipeline.emulate_slowdown, 1.0);

    auto e = only_error(load_config_text("[pipeline]\nemulate_slowdown = 0.5\n", "p.toml"));
    EXPECT_EQ(e.to_string(),
              "p.toml:2:20: pipeline.emulate_slowdown: value 0.5 out of range 1..10000");
    e = only_error(load_config_text("[pipeline]\nlocal_first = 1\n", "p.toml"));
    EXPECT_EQ(e.to_string(), "p.toml:2:15: pipeline.local_first: expected a boolean, got integer");
}

TEST(ConfigLoader, ReportsUnknownKeyWithSuggestion) {
    auto e = only_error(load_config_text("[mqtt]\nhost = \"h\"\nprot = 1\n", "tierd.toml"));
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 8);
    EXPECT_EQ(e.key_path, "mqtt.prot");
    EXPECT_NE(e.message.find("did you mean 'port'"), std::string::npos) << e.message;
}

TEST(ConfigLoader, ReportsUnknownSection) {
    auto e = only_error(load_config_text("[mqt]\nport = 1\n", "tierd.toml"));
    EXPECT_EQ(e.key_path, "mqt");
    EXPECT_EQ(e.line, 1);
    EXPECT_NE(e.message.find("did you mean 'mqtt'"), std::string::npos) << e.message;
}

TEST(ConfigLoader, ReportsLineColumnAndKeyForSyntaxError) {
    auto e = only_error(load_config_text("[mqtt]\nhost = \"h\"\nport = = 3\n", "tierd.toml"));
    EXPECT_EQ(e.file, "tierd.toml");
    EXPECT_EQ(e.line, 3);
    EXPECT_GT(e.column, 0);
    EXPECT_EQ(e.key_path, "mqtt.port");
    EXPECT_NE(e.message.find("syntax error"), std::string::npos) << e.message;
}

TEST(ConfigLoader, CollectsEveryError) {
    auto r =
        load_config_text("[mqtt]\nport = 0\nqos = 3\n[agent]\nrole = 1\nbogus = 2\n", "t.toml");
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.errors.size(), 4u) << to_string(r.errors);
}

TEST(ConfigLoader, ReconnectMaxMustNotBeBelowMin) {
    auto e = only_error(
        load_config_text("[mqtt]\nreconnect_min_ms = 1000\nreconnect_max_ms = 999\n", "t.toml"));
    EXPECT_EQ(e.key_path, "mqtt.reconnect_max_ms");
    EXPECT_EQ(e.line, 3);
}

TEST(ConfigLoader, MissingTlsFileIsAnError) {
    auto e =
        only_error(load_config_text("[mqtt]\ntls_ca_file = \"/nonexistent/ca.pem\"\n", "t.toml"));
    EXPECT_EQ(e.key_path, "mqtt.tls_ca_file");
}

TEST(ConfigLoader, BadGroupNameNamesElement) {
    auto e = only_error(load_config_text("[agent]\ngroups = [\"ok\", \"Not OK\"]\n", "t.toml"));
    EXPECT_EQ(e.key_path, "agent.groups[1]");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 17);
}

TEST(ConfigLoader, PluginEntryMustBeTable) {
    auto e = only_error(load_config_text("[plugin]\nfoo = 1\n", "t.toml"));
    EXPECT_EQ(e.key_path, "plugin.foo");
}

TEST(ConfigLoader, PasswordTypeErrorDoesNotLeakValue) {
    auto e = only_error(load_config_text("[mqtt]\npassword = 12345\n", "t.toml"));
    EXPECT_EQ(e.message.find("12345"), std::string::npos);
}

TEST(ConfigLoader, SourceKindNamesASourcePlugin) {
    auto r = load_config_text("[source]\nkind = \"rtsp-cam\"\npath = \"rtsp://cam-1/stream\"\n",
                              "t.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->source.kind, SourceKind::plugin);
    EXPECT_EQ(r.config->source.kind_name, "rtsp-cam");
    EXPECT_EQ(source_plugin_name(r.config->source), "source-rtsp-cam");
    EXPECT_EQ(to_json(*r.config)["source"]["kind"], "rtsp-cam");
}

TEST(ConfigLoader, BuiltInSourceKindsKeepTheirNames) {
    auto r = load_config_text("[source]\nkind = \"topic\"\n", "t.toml");
    ASSERT_TRUE(r.ok()) << to_string(r.errors);
    EXPECT_EQ(r.config->source.kind, SourceKind::topic);
    EXPECT_EQ(r.config->source.kind_name, "topic");
    EXPECT_EQ(source_plugin_name(r.config->source), "source-topic");
    auto defaults = load_config_text("", "t.toml");
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults.config->source.kind, SourceKind::none);
    EXPECT_EQ(defaults.config->source.kind_name, "none");
    EXPECT_EQ(source_plugin_name(defaults.config->source), "");
    // Code that sets the kind alone still gets the built-in's plugin and name.
    SourceConfig set_in_code;
    set_in_code.kind = SourceKind::idx;
    EXPECT_EQ(source_plugin_name(set_in_code), "source-idx");
}

TEST(ConfigLoader, SourceKindMustBeAPluginName) {
    for (const char *bad : {"Video", "rtsp_cam", "-cam", ""}) {
        auto e = only_error(
            load_config_text(std::string("[source]\nkind = \"") + bad + "\"\n", "t.toml"));
        EXPECT_EQ(e.key_path, "source.kind");
        EXPECT_EQ(e.line, 2);
        EXPECT_EQ(e.column, 8);
        EXPECT_NE(e.message.find("'directory'"), std::string::npos) << e.message;
        EXPECT_NE(e.message.find("source-<kind>"), std::string::npos) << e.message;
    }
}

// A readable file that exists for the test's duration (TLS material stand-in).
class TempFile {
  public:
    TempFile()
        : path_(std::filesystem::temp_directory_path() /
                ("tierd-config-test-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter_++))) {
        std::ofstream(path_) << "x\n";
    }
    ~TempFile() { std::filesystem::remove(path_); }
    std::string path() const { return path_.string(); }

  private:
    static inline int counter_ = 0;
    std::filesystem::path path_;
};

TEST(ConfigLoader, ClientCertificateAndKeyGoTogether) {
    TempFile ca, cert, key;
    auto e = only_error(load_config_text("[mqtt]\ntls_ca_file = \"" + ca.path() +
                                             "\"\ntls_cert_file = \"" + cert.path() + "\"\n",
                                         "t.toml"));
    EXPECT_EQ(e.key_path, "mqtt.tls_key_file");
    EXPECT_EQ(e.line, 3);
    e = only_error(load_config_text("[mqtt]\ntls_ca_file = \"" + ca.path() +
                                        "\"\ntls_key_file = \"" + key.path() + "\"\n",
                                    "t.toml"));
    EXPECT_EQ(e.key_path, "mqtt.tls_cert_file");
    EXPECT_EQ(e.line, 3);
    // Without a CA file libmosquitto would connect in the clear, ignoring both.
    e = only_error(load_config_text("[mqtt]\ntls_cert_file = \"" + cert.path() +
                                        "\"\ntls_key_file = \"" + key.path() + "\"\n",
                                    "t.toml"));
    EXPECT_EQ(e.key_path, "mqtt.tls_ca_file");
    auto r = load_config_text("[mqtt]\ntls_ca_file = \"" + ca.path() + "\"\ntls_cert_file = \"" +
                                  cert.path() + "\"\ntls_key_file = \"" + key.path() + "\"\n",
                              "t.toml");
    EXPECT_TRUE(r.ok()) << to_string(r.errors);
}

TEST(ConfigLoader, StringListElementsAreChecked) {
    auto e = only_error(load_config_text("[plugins]\nsearch_path = [\"/a\", 3]\n", "t.toml"));
    EXPECT_EQ(e.to_string(), "t.toml:2:22: plugins.search_path[1]: expected a string, got integer");
    e = only_error(load_config_text("[hal]\nprofile_dirs = \"/a\"\n", "t.toml"));
    EXPECT_EQ(e.to_string(),
              "t.toml:2:16: hal.profile_dirs: expected an array of strings, got string");
}

TEST(ConfigLoader, MissingFileIsAnError) {
    auto r = load_config_file("/nonexistent/tierd.toml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].file, "/nonexistent/tierd.toml");
}

} // namespace
} // namespace tierd
