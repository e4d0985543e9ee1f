// preclassifier-stats: statistics on real images, the routing rule and the ERANGE rule.
#include "plugin_harness.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace {

using plugin_test::Instance;
using plugin_test::TaskImage;

constexpr int kSize = 64;

std::vector<uint8_t> flat_gray(uint8_t level) {
    return std::vector<uint8_t>(kSize * kSize, level);
}
// Black/white squares of `cell` pixels.
std::vector<uint8_t> checkerboard_gray(int cell) {
    std::vector<uint8_t> px(kSize * kSize);
    for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x)
            px[y * kSize + x] = ((x / cell + y / cell) % 2) ? 255 : 0;
    return px;
}
std::vector<uint8_t> to_bgr(const std::vector<uint8_t> &gray) {
    std::vector<uint8_t> bgr;
    for (uint8_t g : gray)
        bgr.insert(bgr.end(), {g, g, g});
    return bgr;
}

class PreclassifierStats : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
    }
    int classify(Instance &inst, const tierd_task &task, uint32_t capacity = 16) {
        features_.assign(16, -99.0f);
        out_ = tierd_preclass_result{};
        out_.struct_size = sizeof out_;
        out_.features = features_.data();
        out_.feature_capacity = capacity;
        return inst.ops<tierd_preclassifier_ops>()->classify(inst.get(), &task, &out_);
    }
    float feature(const char *name) const {
        for (uint32_t i = 0; i < out_.feature_count; ++i)
            if (std::string(out_.feature_names[i]) == name)
                return features_[i];
        ADD_FAILURE() << "no feature " << name;
        return NAN;
    }

    plugin_test::Library lib_{PRECLASSIFIER_STATS_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    std::vector<float> features_;
    tierd_preclass_result out_{};
};

TEST_F(PreclassifierStats, FlatImageHasNoEdgesAndRoutesLight) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    auto px = flat_gray(128);
    TaskImage t(px, kSize, kSize, TIERD_PIXEL_GRAY8);
    ASSERT_EQ(classify(inst, t.task), TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(out_.feature_count, 5u);
    ASSERT_NE(out_.feature_names, nullptr);
    EXPECT_EQ(out_.route, TIERD_ROUTE_LIGHT);
    EXPECT_NEAR(feature("edge_density"), 0.0f, 1e-6);
    EXPECT_NEAR(feature("mean_brightness"), 128.0f, 1e-3);
    EXPECT_NEAR(feature("contrast"), 0.0f, 1e-3);
    EXPECT_NEAR(feature("sharpness"), 0.0f, 1e-3);
    EXPECT_NEAR(feature("entropy"), 0.0f, 1e-6);
    EXPECT_FLOAT_EQ(out_.light_ok_probability, -1.0f);
    EXPECT_EQ(inst.host().counters["routed_light"], 1.0);
}

TEST_F(PreclassifierStats, CheckerboardHasManyEdgesAndRoutesHeavy) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    auto px = checkerboard_gray(4);
    TaskImage t(px, kSize, kSize, TIERD_PIXEL_GRAY8);
    ASSERT_EQ(classify(inst, t.task), TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(out_.route, TIERD_ROUTE_HEAVY);
    EXPECT_GT(feature("edge_density"), 0.15f);
    EXPECT_NEAR(feature("mean_brightness"), 127.5f, 1e-3);
    EXPECT_NEAR(feature("contrast"), 127.5f, 1e-3);
    EXPECT_GT(feature("sharpness"), 1000.0f);
    EXPECT_NEAR(feature("entropy"), 1.0f, 1e-5); // two equally likely levels
}

TEST_F(PreclassifierStats, ColourImagesAreConvertedToGray) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    auto px = to_bgr(checkerboard_gray(4));
    TaskImage bgr(px, kSize, kSize, TIERD_PIXEL_BGR8);
    ASSERT_EQ(classify(inst, bgr.task), TIERD_OK);
    EXPECT_EQ(out_.route, TIERD_ROUTE_HEAVY);
    TaskImage rgb(px, kSize, kSize, TIERD_PIXEL_RGB8);
    ASSERT_EQ(classify(inst, rgb.task), TIERD_OK);
    EXPECT_NEAR(feature("mean_brightness"), 127.5f, 1e-3);
}

TEST_F(PreclassifierStats, ThresholdComesFromConfig) {
    // Big squares: few edges, under the default threshold but over a tiny one.
    auto px = checkerboard_gray(32);
    TaskImage t(px, kSize, kSize, TIERD_PIXEL_GRAY8);
    {
        Instance inst(d_);
        ASSERT_EQ(inst.create_rc(), TIERD_OK);
        ASSERT_EQ(classify(inst, t.task), TIERD_OK);
        EXPECT_EQ(out_.route, TIERD_ROUTE_LIGHT);
        EXPECT_GT(feature("edge_density"), 0.01f);
    }
    Instance inst(d_, {{"heavy_edge_density", "0.01"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    ASSERT_EQ(classify(inst, t.task), TIERD_OK);
    EXPECT_EQ(out_.route, TIERD_ROUTE_HEAVY);
}

TEST_F(PreclassifierStats, TooSmallFeatureBufferIsErange) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    auto px = flat_gray(200);
    TaskImage t(px, kSize, kSize, TIERD_PIXEL_GRAY8);
    ASSERT_EQ(classify(inst, t.task, 2), TIERD_ERANGE);
    EXPECT_EQ(out_.feature_count, 5u);
    EXPECT_NEAR(features_[0], 200.0f, 1e-3); // what fits is written
    EXPECT_EQ(features_[2], -99.0f);         // nothing past the capacity
    EXPECT_EQ(out_.route, TIERD_ROUTE_LIGHT);
}

TEST_F(PreclassifierStats, MissingOrMalformedImageIsEinval) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    tierd_task task{};
    task.struct_size = sizeof task;
    EXPECT_EQ(classify(inst, task), TIERD_EINVAL);
    EXPECT_NE(inst.host().last_error.find("no image"), std::string::npos);
    auto px = flat_gray(1);
    TaskImage t(px, kSize, kSize, TIERD_PIXEL_GRAY8);
    t.image.stride_bytes = kSize - 1;
    EXPECT_EQ(classify(inst, t.task), TIERD_EINVAL);
}

TEST_F(PreclassifierStats, InvertedCannyThresholdsAreAConfigError) {
    Instance inst(d_, {{"canny_low", "200"}, {"canny_high", "100"}});
    EXPECT_EQ(inst.create_rc(), TIERD_ECONFIG);
    EXPECT_NE(inst.host().last_error.find("canny_low"), std::string::npos);
}

} // namespace
