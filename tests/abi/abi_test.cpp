// The C ABI's promises, checked on a real .so written in C.
#include <tierd/plugin.h>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstddef>

// Every struct that crosses the boundary starts with its size: readers rely on it.
static_assert(offsetof(tierd_plugin_descriptor, struct_size) == 0);
static_assert(offsetof(tierd_host_services, struct_size) == 0);
static_assert(offsetof(tierd_config_key, struct_size) == 0);
static_assert(offsetof(tierd_task, struct_size) == 0);
static_assert(offsetof(tierd_image, struct_size) == 0);
static_assert(offsetof(tierd_inference_result, struct_size) == 0);
static_assert(offsetof(tierd_preclass_result, struct_size) == 0);
static_assert(offsetof(tierd_decision, struct_size) == 0);
static_assert(offsetof(tierd_host_offer, struct_size) == 0);
static_assert(offsetof(tierd_fusion_ops, struct_size) == 0);
static_assert(offsetof(tierd_source_ops, struct_size) == 0);
static_assert(offsetof(tierd_frame, struct_size) == 0);
// Layout of ABI 1.0 on LP64: a change here is an ABI break and needs a major bump. Minors
// only append: 1.3 added max_concurrent_calls after the 1.0 descriptor's 136 bytes.
static_assert(sizeof(void *) != 8 || offsetof(tierd_plugin_descriptor, max_concurrent_calls) == 136);
static_assert(sizeof(void *) != 8 || sizeof(tierd_plugin_descriptor) == 144);
// ABI 1.3's frame: the image, a fixed id, the label and capture time, the plugin's owner.
static_assert(sizeof(void *) != 8 || offsetof(tierd_frame, frame_index) == 224);
// ABI 1.4 only appends: each struct's 1.3 prefix keeps its layout (the first new field
// starts where the 1.3 struct ended), and tierd_detection is frozen at 32 bytes.
static_assert(sizeof(void *) != 8 || offsetof(tierd_task, stream) == 88);
static_assert(sizeof(void *) != 8 || offsetof(tierd_inference_result, detections) == 176);
static_assert(sizeof(void *) != 8 || offsetof(tierd_decision, key_frame_tier) == 212);
static_assert(sizeof(void *) != 8 || offsetof(tierd_schedule_context, stream) == 112);
static_assert(sizeof(void *) != 8 || offsetof(tierd_fusion_ops, fuse_frame) == 16);
static_assert(sizeof(tierd_detection) == 32);
static_assert(sizeof(void *) != 8 || sizeof(tierd_config_key) == 64);
static_assert(sizeof(void *) != 8 || offsetof(tierd_host_services, reserved) == 128);

namespace {

class MinimalCPlugin : public ::testing::Test {
  protected:
    void SetUp() override {
        handle_ = dlopen(MINIMAL_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(handle_, nullptr) << dlerror();
        entry_ = reinterpret_cast<tierd_plugin_entry_fn>(dlsym(handle_, TIERD_PLUGIN_ENTRY_SYMBOL));
        ASSERT_NE(entry_, nullptr);
    }
    void TearDown() override {
        if (handle_)
            dlclose(handle_);
    }
    int call_entry(std::initializer_list<uint32_t> versions, const tierd_plugin_descriptor **out) {
        std::vector<uint32_t> v(versions);
        tierd_host_offer offer{sizeof(tierd_host_offer), static_cast<uint32_t>(v.size()), v.data(),
                               "test"};
        return entry_(&offer, out);
    }
    void *handle_ = nullptr;
    tierd_plugin_entry_fn entry_ = nullptr;
};

TEST_F(MinimalCPlugin, ExportsOnlyTheEntrySymbol) {
    EXPECT_EQ(dlsym(handle_, "create"), nullptr);
    EXPECT_EQ(dlsym(handle_, "descriptor"), nullptr);
}

TEST_F(MinimalCPlugin, AnswersWithItsOwnVersionWhenHostIsNewerInSameMajor) {
    const tierd_plugin_descriptor *d = nullptr;
    ASSERT_EQ(call_entry({TIERD_ABI_MAKE(1, 7), TIERD_ABI_MAKE(1, 0)}, &d), TIERD_OK);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->abi_version, TIERD_ABI_VERSION);
    EXPECT_EQ(d->struct_size, sizeof(tierd_plugin_descriptor));
    EXPECT_EQ(d->kind, TIERD_KIND_FUSION);
    EXPECT_STREQ(d->name, "minimal-c");
}

TEST_F(MinimalCPlugin, RefusesHostOfferingOnlyAnotherMajor) {
    const tierd_plugin_descriptor *d = nullptr;
    EXPECT_EQ(call_entry({TIERD_ABI_MAKE(2, 0)}, &d), TIERD_EVERSION);
    EXPECT_EQ(d, nullptr);
}

TEST_F(MinimalCPlugin, FusePrefersRemoteResult) {
    const tierd_plugin_descriptor *d = nullptr;
    ASSERT_EQ(call_entry({TIERD_ABI_VERSION}, &d), TIERD_OK);
    void *instance = nullptr;
    ASSERT_EQ(d->create(nullptr, nullptr, nullptr, &instance), TIERD_OK);
    auto *ops = static_cast<const tierd_fusion_ops *>(d->ops);
    ASSERT_GE(ops->struct_size, sizeof(tierd_fusion_ops));
    tierd_inference_result local{}, remote{}, out{};
    local.top_class = 1;
    remote.top_class = 7;
    out.struct_size = sizeof out;
    EXPECT_EQ(ops->fuse(instance, nullptr, &local, &remote, &out), TIERD_OK);
    EXPECT_EQ(out.top_class, 7);
    EXPECT_EQ(ops->fuse(instance, nullptr, &local, nullptr, &out), TIERD_OK);
    EXPECT_EQ(out.top_class, 1);
    EXPECT_EQ(ops->fuse(instance, nullptr, nullptr, nullptr, &out), TIERD_EINVAL);
    d->destroy(instance);
}

TEST(ErrorCodes, EveryCodeHasANameAndText) {
    for (int e = TIERD_OK; e >= TIERD_EOF; --e) {
        EXPECT_STRNE(tierd_err_name(e), "TIERD_EUNKNOWN") << e;
        EXPECT_STRNE(tierd_strerror(e), "unknown error") << e;
    }
    EXPECT_STREQ(tierd_strerror(-999), "unknown error");
}

} // namespace
