#include "agent/config/secret_file_check.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace tierd {
namespace {

namespace fs = std::filesystem;

// A config file with TEXT and MODE in a fresh directory, removed at the end of the test.
class SecretFileCheck : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("tierd-secret-check-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string &text, mode_t mode) {
        auto path = (dir_ / "tierd.toml").string();
        std::ofstream(path) << text;
        EXPECT_EQ(::chmod(path.c_str(), mode), 0);
        return path;
    }

    fs::path dir_;
};

TEST_F(SecretFileCheck, WarnsWhenOthersCanReadThePassword) {
    auto path = write("[mqtt]\nusername = \"cam-17\"\npassword = \"hunter2-x\"\n", 0644);
    auto warning = secret_file_warning(path);
    ASSERT_TRUE(warning.has_value());
    EXPECT_NE(warning->find(path), std::string::npos) << *warning;
    EXPECT_NE(warning->find("mode 0644"), std::string::npos) << *warning;
    EXPECT_NE(warning->find("mqtt.password"), std::string::npos) << *warning;
    EXPECT_NE(warning->find("chmod 640"), std::string::npos) << *warning;
    EXPECT_EQ(warning->find("hunter2"), std::string::npos) << "the value leaked: " << *warning;
}

TEST_F(SecretFileCheck, QuietForOwnerAndGroupModes) {
    for (mode_t mode : {0600, 0640, 0660, 0400})
        EXPECT_FALSE(secret_file_warning(write("[mqtt]\npassword = \"p\"\n", mode)))
            << std::oct << mode;
    // Other may write or execute it, but not read: nothing leaks by reading.
    EXPECT_FALSE(secret_file_warning(write("[mqtt]\npassword = \"p\"\n", 0663)));
}

TEST_F(SecretFileCheck, QuietWithoutSecrets) {
    EXPECT_FALSE(secret_file_warning(write("[mqtt]\nusername = \"u\"\n", 0644)));
    EXPECT_FALSE(secret_file_warning(write("[mqtt]\npassword = \"\"\n", 0644)));
    EXPECT_FALSE(secret_file_warning(write("", 0644)));
}

TEST_F(SecretFileCheck, PluginSecretKeys) {
    auto path = write("[plugin.test-good]\ntoken = \"t0k\"\nother = \"x\"\n", 0604);
    // Unknown to be secret unless a plugin declared it.
    EXPECT_FALSE(secret_file_warning(path));
    EXPECT_FALSE(secret_file_warning(path, {"plugin.test-good.other2"}));
    auto warning = secret_file_warning(path, {"plugin.test-good.token"});
    ASSERT_TRUE(warning.has_value());
    EXPECT_NE(warning->find("plugin.test-good.token"), std::string::npos) << *warning;
    EXPECT_NE(warning->find("mode 0604"), std::string::npos) << *warning;
    EXPECT_EQ(warning->find("t0k"), std::string::npos) << *warning;
}

TEST_F(SecretFileCheck, NamesEachSecretOnce) {
    auto path = write("[mqtt]\npassword = \"p\"\n[plugin.a]\nk = \"v\"\n", 0644);
    auto warning = secret_file_warning(path, {"plugin.a.k", "mqtt.password", "plugin.a.k"});
    ASSERT_TRUE(warning.has_value());
    EXPECT_NE(warning->find("(mqtt.password, plugin.a.k)"), std::string::npos) << *warning;
}

TEST_F(SecretFileCheck, NoFileNoWarning) {
    EXPECT_FALSE(secret_file_warning(""));
    EXPECT_FALSE(secret_file_warning("<default>"));
    EXPECT_FALSE(secret_file_warning((dir_ / "missing.toml").string()));
    // A file that does not parse is the loader's to report.
    EXPECT_FALSE(secret_file_warning(write("[mqtt\npassword = \"p\"\n", 0644)));
}

// The plugin host's table type, as far as add_plugin_secret_keys reads it.
struct FakeValues {
    struct Entry {
        bool secret = false;
    };
    std::string plugin_name;
    std::map<std::string, Entry> entries;
};

TEST(AddPluginSecretKeys, OnlyTheDeclaredSecrets) {
    FakeValues values{"test-good", {{"token", {true}}, {"mode", {false}}, {"key", {true}}}};
    std::vector<std::string> keys{"x"};
    add_plugin_secret_keys(keys, values);
    EXPECT_EQ(keys,
              (std::vector<std::string>{"x", "plugin.test-good.key", "plugin.test-good.token"}));
}

} // namespace
} // namespace tierd
