// source-idx: the images of an IDX file, once or `repeat` times.
#include "plugin_harness.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using plugin_test::Instance;

// A raw IDX images file of `count` 2x2 images; image i has every pixel = i.
std::string write_idx(const std::filesystem::path &dir, int count) {
    std::filesystem::create_directories(dir);
    const auto path = dir / "images.idx";
    std::ofstream f(path, std::ios::binary);
    const unsigned char magic[4] = {0, 0, 0x08, 3};
    f.write(reinterpret_cast<const char *>(magic), 4);
    for (uint32_t dim : {static_cast<uint32_t>(count), 2u, 2u}) {
        const unsigned char be[4] = {
            static_cast<unsigned char>(dim >> 24), static_cast<unsigned char>(dim >> 16),
            static_cast<unsigned char>(dim >> 8), static_cast<unsigned char>(dim)};
        f.write(reinterpret_cast<const char *>(be), 4);
    }
    for (int i = 0; i < count; ++i)
        for (int p = 0; p < 4; ++p)
            f.put(static_cast<char>(i));
    return path.string();
}

class SourceIdx : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
        dir_ = std::filesystem::temp_directory_path() /
               ("source_idx_test_" + std::to_string(::getpid()));
        path_ = write_idx(dir_, 3);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // The first pixel of each frame next() returns, up to `max` calls; stops at EOF.
    std::vector<int> play(Instance &inst, int max, int *last_rc) {
        const auto *ops = inst.ops<tierd_source_ops>();
        std::vector<int> firsts;
        for (int i = 0; i < max; ++i) {
            tierd_frame frame{};
            frame.struct_size = sizeof frame;
            *last_rc = ops->next(inst.get(), &frame);
            if (*last_rc != TIERD_OK)
                break;
            firsts.push_back(frame.image.data[0]);
            ops->release(inst.get(), &frame);
        }
        return firsts;
    }

    plugin_test::Library lib_{SOURCE_IDX_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    std::filesystem::path dir_;
    std::string path_;
};

TEST_F(SourceIdx, PlaysTheFileOnceByDefault) {
    Instance inst(d_, {{"path", path_}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    int rc = 0;
    EXPECT_EQ(play(inst, 10, &rc), (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(rc, TIERD_EOF);
}

TEST_F(SourceIdx, RepeatPlaysTheFileThatManyTimes) {
    Instance inst(d_, {{"path", path_}, {"repeat", "2"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    int rc = 0;
    EXPECT_EQ(play(inst, 10, &rc), (std::vector<int>{0, 1, 2, 0, 1, 2}));
    EXPECT_EQ(rc, TIERD_EOF);
}

TEST_F(SourceIdx, RepeatZeroNeverEnds) {
    Instance inst(d_, {{"path", path_}, {"repeat", "0"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    int rc = 0;
    const auto firsts = play(inst, 3000, &rc);
    ASSERT_EQ(firsts.size(), 3000u);
    EXPECT_EQ(rc, TIERD_OK);
    EXPECT_EQ(firsts[2999], 2999 % 3);
}

} // namespace
