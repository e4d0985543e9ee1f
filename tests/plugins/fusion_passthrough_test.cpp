// fusion-passthrough: the preferred available result is copied, scores within capacity.
#include "plugin_harness.hpp"

#include <cstring>
#include <vector>

namespace {

using plugin_test::Instance;

struct Result {
    std::vector<float> scores;
    tierd_inference_result r{};
    Result(int top, std::vector<float> s, const char *model) : scores(std::move(s)) {
        r.struct_size = sizeof r;
        r.scores = scores.data();
        r.score_capacity = static_cast<uint32_t>(scores.size());
        r.score_count = static_cast<uint32_t>(scores.size());
        r.top_class = top;
        r.top_score = scores.empty() ? 0.0f : scores[static_cast<size_t>(top)];
        std::snprintf(r.model, sizeof r.model, "%s", model);
        r.compute_ms = 12.5;
        r.energy_j = 0.25;
        std::snprintf(r.energy_source, sizeof r.energy_source, "estimated:test");
    }
};

class FusionPassthrough : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
    }
    int fuse(Instance &inst, const Result *local, const Result *remote, uint32_t capacity = 8) {
        buffer_.assign(8, -1.0f);
        out_ = tierd_inference_result{};
        out_.struct_size = sizeof out_;
        out_.scores = buffer_.data();
        out_.score_capacity = capacity;
        return inst.ops<tierd_fusion_ops>()->fuse(inst.get(), nullptr, local ? &local->r : nullptr,
                                                  remote ? &remote->r : nullptr, &out_);
    }
    plugin_test::Library lib_{FUSION_PASSTHROUGH_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    std::vector<float> buffer_;
    tierd_inference_result out_{};
    Result local_{0, {0.7f, 0.2f, 0.1f}, "mobilenet"};
    Result remote_{2, {0.1f, 0.1f, 0.6f, 0.2f}, "resnet152"};
};

TEST_F(FusionPassthrough, PrefersRemoteByDefault) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    ASSERT_EQ(fuse(inst, &local_, &remote_), TIERD_OK);
    EXPECT_EQ(out_.top_class, 2);
    EXPECT_FLOAT_EQ(out_.top_score, 0.6f);
    EXPECT_STREQ(out_.model, "resnet152");
    EXPECT_EQ(out_.score_count, 4u);
    EXPECT_FLOAT_EQ(buffer_[3], 0.2f);
    EXPECT_EQ(buffer_[4], -1.0f);
    EXPECT_DOUBLE_EQ(out_.compute_ms, 12.5);
    EXPECT_DOUBLE_EQ(out_.energy_j, 0.25);
    EXPECT_STREQ(out_.energy_source, "estimated:test");
    EXPECT_EQ(inst.host().counters["picked_remote"], 1.0);
}

TEST_F(FusionPassthrough, PreferLocal) {
    Instance inst(d_, {{"prefer", "local"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    ASSERT_EQ(fuse(inst, &local_, &remote_), TIERD_OK);
    EXPECT_EQ(out_.top_class, 0);
    EXPECT_STREQ(out_.model, "mobilenet");
    EXPECT_EQ(out_.score_count, 3u);
}

TEST_F(FusionPassthrough, FallsBackToWhicheverIsAvailable) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    ASSERT_EQ(fuse(inst, &local_, nullptr), TIERD_OK);
    EXPECT_STREQ(out_.model, "mobilenet");
    Instance local_first(d_, {{"prefer", "local"}});
    ASSERT_EQ(local_first.create_rc(), TIERD_OK);
    ASSERT_EQ(fuse(local_first, nullptr, &remote_), TIERD_OK);
    EXPECT_STREQ(out_.model, "resnet152");
}

TEST_F(FusionPassthrough, NeitherResultIsEinval) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    EXPECT_EQ(fuse(inst, nullptr, nullptr), TIERD_EINVAL);
    EXPECT_NE(inst.host().last_error.find("neither"), std::string::npos);
}

TEST_F(FusionPassthrough, ScoresBeyondCapacityAreErange) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    ASSERT_EQ(fuse(inst, &local_, &remote_, 2), TIERD_ERANGE);
    EXPECT_EQ(out_.score_count, 4u);
    EXPECT_FLOAT_EQ(buffer_[1], 0.1f);
    EXPECT_EQ(buffer_[2], -1.0f);
    EXPECT_EQ(out_.top_class, 2); // the rest is still filled in
}

TEST_F(FusionPassthrough, ResultWithoutScoresPassesTopClassOnly) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    Result bare{5, {}, "remote-only"};
    bare.r.scores = nullptr;
    bare.r.score_count = 1000;
    bare.r.top_score = 0.9f;
    ASSERT_EQ(fuse(inst, nullptr, &bare), TIERD_OK);
    EXPECT_EQ(out_.top_class, 5);
    EXPECT_EQ(out_.score_count, 0u);
}

TEST_F(FusionPassthrough, ReloadSwitchesPreference) {
    Instance inst(d_);
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    ASSERT_EQ(inst.reload({{"prefer", "local"}}), TIERD_OK);
    ASSERT_EQ(fuse(inst, &local_, &remote_), TIERD_OK);
    EXPECT_STREQ(out_.model, "mobilenet");
}

} // namespace
