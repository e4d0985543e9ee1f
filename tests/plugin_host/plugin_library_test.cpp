#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/plugin_host/plugin_library.hpp"

namespace tierd {
namespace {

using ::testing::HasSubstr;

// Opens `path` expecting failure; returns the error.
std::string open_error(const std::string &path) {
    auto r = PluginLibrary::open(path);
    EXPECT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.library, nullptr);
    return r.error;
}

TEST(PluginLibrary, OpensGoodPluginAndCopiesItsDescriptor) {
    auto r = PluginLibrary::open(GOOD_PLUGIN_PATH);
    ASSERT_TRUE(r.ok()) << r.error;
    const PluginDescriptor &d = r.library->descriptor();
    EXPECT_EQ(d.name, "test-good");
    EXPECT_EQ(d.version, "1.2.3");
    EXPECT_EQ(d.description, "well-behaved test plugin");
    EXPECT_EQ(d.kind, TIERD_KIND_INFERENCE);
    EXPECT_EQ(d.abi_version, TIERD_ABI_VERSION);
    ASSERT_EQ(d.config_keys.size(), 7u);
    EXPECT_EQ(d.config_keys[0].name, "threads");
    EXPECT_EQ(std::get<std::int64_t>(d.config_keys[0].default_value), 4);
    EXPECT_EQ(d.config_keys[0].min, 1.0);
    EXPECT_EQ(d.config_keys[0].max, 16.0);
    EXPECT_EQ(d.config_keys[1].choices, (std::vector<std::string>{"cpu", "cuda"}));
    EXPECT_TRUE(d.config_keys[6].secret());
    EXPECT_NE(r.library->functions().infer, nullptr);
    EXPECT_EQ(r.library->functions().decide, nullptr);
    EXPECT_EQ(r.library->functions().stop, nullptr);
}

TEST(PluginLibrary, RejectsMissingFile) {
    std::string err = open_error("/nonexistent/dir/nothing.so");
    EXPECT_THAT(err, HasSubstr("/nonexistent/dir/nothing.so: no such file"));
}

TEST(PluginLibrary, ReportsDlopenFailureText) {
    auto path = std::filesystem::temp_directory_path() / "tierd-plugin-host-not-elf.so";
    std::ofstream(path) << "this is not an ELF file\n";
    std::string err = open_error(path.string());
    EXPECT_THAT(err, HasSubstr(path.string() + ": cannot load: "));
    EXPECT_THAT(err, HasSubstr("not-elf.so")); // dlerror() names the file too
    std::filesystem::remove(path);
}

TEST(PluginLibrary, RejectsPluginWithNewerAbi) {
    std::string err = open_error(BAD_REFUSES_VERSION_PATH);
    EXPECT_THAT(err, HasSubstr(BAD_REFUSES_VERSION_PATH));
    EXPECT_THAT(err,
                HasSubstr("plugin speaks no ABI version this host serves (host serves 1.7, 1.6, "
                          "1.5, 1.4, 1.3, 1.2, 1.1, 1.0)"));
}

TEST(PluginLibrary, RejectsPluginClaimingAnUnofferedAbi) {
    EXPECT_THAT(
        open_error(BAD_CLAIMS_NEWER_PATH),
        HasSubstr("claims ABI 2.0, which this host did not offer (host serves 1.7, 1.6, 1.5, "
                  "1.4, 1.3, 1.2, 1.1, 1.0)"));
}

TEST(PluginLibrary, RejectsPluginWithoutEntrySymbol) {
    std::string err = open_error(BAD_NO_ENTRY_PATH);
    EXPECT_THAT(err, HasSubstr(BAD_NO_ENTRY_PATH));
    EXPECT_THAT(err, HasSubstr("no exported tierd_plugin_entry symbol"));
}

TEST(PluginLibrary, RejectsNullDescriptor) {
    EXPECT_THAT(open_error(BAD_NULL_DESCRIPTOR_PATH), HasSubstr("returned a NULL descriptor"));
}

TEST(PluginLibrary, RejectsDescriptorSmallerThanAbi10Layout) {
    EXPECT_THAT(open_error(BAD_SMALL_DESCRIPTOR_PATH),
                HasSubstr("is smaller than the ABI 1.0 layout"));
}

TEST(PluginLibrary, RejectsUnknownKind) {
    EXPECT_THAT(open_error(BAD_KIND_PATH), HasSubstr("unknown plugin kind 7"));
}

TEST(PluginLibrary, RejectsMissingDestroy) {
    EXPECT_THAT(open_error(BAD_NO_DESTROY_PATH), HasSubstr("no destroy function (required)"));
}

TEST(PluginLibrary, RejectsOpsTableTooSmallForItsKind) {
    EXPECT_THAT(open_error(BAD_SMALL_OPS_PATH),
                HasSubstr("fusion ops struct_size 4 is smaller than the ABI 1.0 layout"));
}

TEST(PluginLibrary, RejectsInvalidConfigDeclarations) {
    EXPECT_THAT(open_error(BAD_CONFIG_NAME_PATH),
                HasSubstr("invalid config map: config key #0: name must match"));
    EXPECT_THAT(open_error(BAD_CONFIG_TYPE_PATH),
                HasSubstr("config key \"mode\": unknown type 42"));
    EXPECT_THAT(open_error(BAD_CONFIG_DEFAULT_PATH),
                HasSubstr("config key \"threads\": default must be at most 8 (got 64)"));
    EXPECT_THAT(open_error(BAD_CONFIG_ENUM_PATH),
                HasSubstr("config key \"backend\": enum key declares no choices"));
}

TEST(PluginLibrary, LoadsTheSameFileTwice) {
    auto a = PluginLibrary::open(GOOD_PLUGIN_PATH);
    auto b = PluginLibrary::open(GOOD_PLUGIN_PATH);
    ASSERT_TRUE(a.ok() && b.ok());
    a.library.reset(); // dlclose is reference counted: b stays usable
    EXPECT_EQ(b.library->descriptor().name, "test-good");
}

TEST(FindPlugin, SearchesDirectoriesInOrder) {
    namespace fs = std::filesystem;
    fs::path root = fs::temp_directory_path() / "tierd-plugin-host-find";
    fs::remove_all(root);
    fs::create_directories(root / "a");
    fs::create_directories(root / "b");
    std::ofstream(root / "b" / "inference-x.so") << "";
    std::ofstream(root / "a" / "other.so") << "";
    std::vector<std::string> path{(root / "missing").string(), (root / "a").string(),
                                  (root / "b").string()};
    EXPECT_EQ(find_plugin("inference-x", path), (root / "b" / "inference-x.so").string());
    std::ofstream(root / "a" / "inference-x.so") << "";
    EXPECT_EQ(find_plugin("inference-x", path), (root / "a" / "inference-x.so").string());
    EXPECT_EQ(find_plugin("nope", path), std::nullopt);
    fs::remove_all(root);
}

TEST(FindPlugin, RejectsNamesThatAreNotPluginNames) {
    std::vector<std::string> path{"/usr/lib"};
    EXPECT_EQ(find_plugin("../lib/x86_64-linux-gnu/libc", path), std::nullopt);
    EXPECT_EQ(find_plugin("", path), std::nullopt);
}

} // namespace
} // namespace tierd
