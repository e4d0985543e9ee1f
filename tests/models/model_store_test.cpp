// ModelStore (agent/models/model_store.hpp) on real files in a temporary directory, with
// the zoo's real manifest and model files.
#include "agent/models/model_store.hpp"

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using tierd::ModelStore;
using tierd::ModelStoreError;

const std::string kZoo = TIERD_MODELS_DIR;

std::string read(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class ModelStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("tierd-model-store-" + std::to_string(getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        bytes_ = read(kZoo + "/mobilenet-s.onnx");
        sha_ = tierd::sha256_of_file(kZoo + "/mobilenet-s.onnx");
    }
    void TearDown() override { fs::remove_all(dir_); }
    // Uploads the whole file as cnn-xs@version in chunks of `chunk`.
    void upload(ModelStore &store, const std::string &version, std::size_t chunk = 50000) {
        store.begin("cnn-xs", version, sha_, bytes_.size());
        for (std::size_t off = 0; off < bytes_.size(); off += chunk)
            store.append("cnn-xs", version, off, bytes_.substr(off, chunk));
        store.finish("cnn-xs", version);
    }
    std::string code_of(const std::function<void()> &f) {
        try {
            f();
        } catch (const ModelStoreError &e) {
            return e.code;
        }
        return "";
    }
    fs::path dir_;
    std::string bytes_, sha_;
};

TEST_F(ModelStoreTest, AnUploadIsVerifiedAndKeptAcrossARestart) {
    {
        ModelStore store(dir_.string());
        upload(store, "2");
        store.activate("cnn-xs", "2", false);
        EXPECT_EQ(read(store.file("cnn-xs", "2")), bytes_);
    }
    ModelStore again(dir_.string());
    EXPECT_TRUE(again.recover().empty());
    const auto *m = again.find("cnn-xs");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->active, "2");
    EXPECT_EQ(m->previous, "");
    EXPECT_EQ(m->versions.at("2").sha256, sha_);
    EXPECT_EQ(m->versions.at("2").bytes, bytes_.size());
}

TEST_F(ModelStoreTest, BytesThatDoNotMatchTheirDigestAreDiscarded) {
    ModelStore store(dir_.string());
    std::string wrong = sha_;
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    store.begin("cnn-xs", "2", wrong, bytes_.size());
    store.append("cnn-xs", "2", 0, bytes_);
    EXPECT_EQ(code_of([&] { store.finish("cnn-xs", "2"); }), "verify_failed");
    EXPECT_EQ(store.find("cnn-xs"), nullptr);
    EXPECT_FALSE(fs::exists(store.file("cnn-xs", "2")));
    EXPECT_TRUE(fs::is_empty(dir_ / "staging"));
}

TEST_F(ModelStoreTest, ChunksMustComeInOrderAndWithinTheSize) {
    ModelStore store(dir_.string());
    EXPECT_EQ(code_of([&] { store.append("cnn-xs", "2", 0, "x"); }), "out_of_order");
    store.begin("cnn-xs", "2", sha_, bytes_.size());
    store.append("cnn-xs", "2", 0, bytes_.substr(0, 100));
    EXPECT_EQ(code_of([&] { store.append("cnn-xs", "2", 50, "x"); }), "out_of_order");
    EXPECT_EQ(code_of([&] { store.append("cnn-xs", "2", 100, bytes_); }), "invalid_args");
    EXPECT_EQ(code_of([&] { store.finish("cnn-xs", "2"); }), "out_of_order");
    ASSERT_TRUE(store.upload("cnn-xs", "2"));
    EXPECT_EQ(store.upload("cnn-xs", "2")->first, 100u);
}

TEST_F(ModelStoreTest, NamesThatAreNotFileNamesAreRefused) {
    ModelStore store(dir_.string());
    for (const std::string &name :
         std::vector<std::string>{"../x", "a/b", ".hidden", "", std::string(65, 'a')})
        EXPECT_EQ(code_of([&] { store.begin(name, "1", sha_, 10); }), "invalid_args") << name;
    EXPECT_EQ(code_of([&] { store.begin("cnn-xs", "1", "ABC", 10); }), "invalid_args");
    EXPECT_EQ(code_of([&] { store.begin("cnn-xs", "1", sha_, 0); }), "invalid_args");
}

TEST_F(ModelStoreTest, TooLittleFreeSpaceIsRefusedBeforeAnythingIsWritten) {
    ModelStore store(dir_.string());
    const auto available = fs::space(dir_).available;
    EXPECT_EQ(code_of([&] { store.begin("cnn-xs", "2", sha_, available); }), "no_space");
    EXPECT_FALSE(store.upload("cnn-xs", "2"));
}

TEST_F(ModelStoreTest, AVersionIsNotStoredTwiceWithOtherBytes) {
    ModelStore store(dir_.string());
    upload(store, "2");
    std::string other = sha_;
    other[1] = other[1] == 'a' ? 'b' : 'a';
    EXPECT_EQ(code_of([&] { store.begin("cnn-xs", "2", other, 10); }), "exists");
}

TEST_F(ModelStoreTest, TheOverlayNamesTheActiveFileAndKeepsTheRest) {
    ModelStore store(dir_.string());
    upload(store, "2");
    store.activate("cnn-xs", "2", true);
    const std::string path = store.overlay(kZoo + "/manifest.toml");
    EXPECT_TRUE(store.is_overlay(path));
    const auto doc = toml::parse_file(path);
    int models = 0;
    for (const auto &node : *doc["model"].as_array()) {
        const auto &t = *node.as_table();
        const std::string name = t["name"].value_or(std::string());
        const std::string file = t["file"].value_or(std::string());
        EXPECT_TRUE(fs::path(file).is_absolute()) << file;
        EXPECT_TRUE(fs::exists(file)) << file;
        if (name == "cnn-xs") {
            EXPECT_EQ(file, store.file("cnn-xs", "2"));
            EXPECT_EQ(t["sha256"].value_or(std::string()), sha_);
            EXPECT_FALSE(t.contains("cut")) << "the shipped split files do not fit version 2";
        } else {
            EXPECT_EQ(tierd::sha256_of_file(file), t["sha256"].value_or(std::string()));
        }
        ++models;
    }
    EXPECT_GE(models, 5);
    EXPECT_EQ(code_of([&] {
                  store.overlay(kZoo + "/manifest.toml", {{"no-such-model", "2"}});
              }),
              "invalid_args");
}

TEST_F(ModelStoreTest, AtStartUnfinishedUploadsGoAndABrokenActiveFileFallsBack) {
    {
        ModelStore store(dir_.string());
        upload(store, "2");
        upload(store, "3");
        store.activate("cnn-xs", "2", false);
        store.activate("cnn-xs", "3", false); // previous: 2
        store.begin("cnn-xs", "4", sha_, bytes_.size());
        store.append("cnn-xs", "4", 0, bytes_.substr(0, 1000));
    }
    // Version 3's file is damaged while the agent is down.
    std::ofstream(dir_ / "cnn-xs" / "3.onnx", std::ios::binary | std::ios::trunc) << "broken";
    ModelStore store(dir_.string());
    const auto lines = store.recover();
    std::string all;
    for (const auto &l : lines)
        all += l + "\n";
    EXPECT_NE(all.find("discarded an unfinished upload: cnn-xs@4.part"), std::string::npos) << all;
    EXPECT_NE(all.find("version 3 cannot serve"), std::string::npos) << all;
    EXPECT_EQ(store.find("cnn-xs")->active, "2") << all;
    EXPECT_TRUE(store.find("cnn-xs")->versions.at("3").rejected);
    EXPECT_TRUE(fs::is_empty(dir_ / "staging"));
}

TEST_F(ModelStoreTest, ACorruptStoreFileIsSetAsideAndTheShippedModelsServe) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "store.json") << "{not json";
    ModelStore store(dir_.string());
    EXPECT_FALSE(store.any_active());
    EXPECT_TRUE(fs::exists(dir_ / "store.json.corrupt"));
}

} // namespace
