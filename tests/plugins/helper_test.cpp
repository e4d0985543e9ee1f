// tierd/plugin.hpp: every exception thrown by a plugin method comes back through the C
// ABI as an error code plus the message, never as an exception.
#include "plugin_harness.hpp"

namespace {

using plugin_test::Instance;
using plugin_test::Library;

class Helper : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
    }
    int infer(Instance &inst) {
        tierd_image image{sizeof(tierd_image), TIERD_PIXEL_GRAY8, 1, 1, 1, pixel_};
        tierd_task task{};
        task.struct_size = sizeof task;
        task.image = &image;
        tierd_inference_result out{};
        out.struct_size = sizeof out;
        return inst.ops<tierd_inference_ops>()->infer(inst.get(), &task, nullptr, &out);
    }
    Library lib_{THROWING_PLUGIN_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    uint8_t pixel_[1] = {0};
};

TEST_F(Helper, NoThrowIsOk) {
    Instance inst(d_, {{"mode", "none"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    EXPECT_EQ(infer(inst), TIERD_OK);
    EXPECT_EQ(inst.host().last_error, "");
}

TEST_F(Helper, StdExceptionBecomesEpluginWithMessage) {
    Instance inst(d_, {{"mode", "std"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    EXPECT_EQ(infer(inst), TIERD_EPLUGIN);
    EXPECT_EQ(inst.host().last_error, "infer exploded");
}

TEST_F(Helper, TierdErrorKeepsItsCode) {
    Instance inst(d_, {{"mode", "tierd"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    EXPECT_EQ(infer(inst), TIERD_EBUSY);
    EXPECT_EQ(inst.host().last_error, "model is being swapped");
}

TEST_F(Helper, BadAllocBecomesEnomem) {
    Instance inst(d_, {{"mode", "bad-alloc"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    EXPECT_EQ(infer(inst), TIERD_ENOMEM);
    EXPECT_EQ(inst.host().last_error, "out of memory");
}

TEST_F(Helper, NonStdExceptionBecomesEplugin) {
    Instance inst(d_, {{"mode", "non-std"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    EXPECT_EQ(infer(inst), TIERD_EPLUGIN);
    EXPECT_EQ(inst.host().last_error, "unknown exception");
}

TEST_F(Helper, ConstructorExceptionFailsCreate) {
    Instance inst(d_, {{"mode", "ctor"}});
    EXPECT_EQ(inst.create_rc(), TIERD_EPLUGIN);
    EXPECT_EQ(inst.host().last_error, "constructor exploded");
    EXPECT_EQ(inst.get(), nullptr);
}

TEST_F(Helper, UndeclaredConfigKeyFailsCreateWithEnoent) {
    Instance inst(d_, {{"mode", "undeclared"}});
    EXPECT_EQ(inst.create_rc(), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("no_such_key"), std::string::npos)
        << inst.host().last_error;
}

TEST_F(Helper, ExceptionFromStopIsLoggedNotThrown) {
    tierd_host host;
    tierd_config config = plugin_test::make_config(d_, {{"mode", "stop"}});
    void *instance = nullptr;
    ASSERT_EQ(d_->create(&host, plugin_test::services(), &config, &instance), TIERD_OK);
    ASSERT_NE(d_->stop, nullptr);
    d_->stop(instance);
    EXPECT_TRUE(host.logged("stop failed: stop exploded"));
    d_->destroy(instance);
    EXPECT_TRUE(host.logged("destroyed"));
}

TEST_F(Helper, OptionalCallbacksFollowTheClass) {
    EXPECT_NE(d_->stop, nullptr);   // Throwing::stop exists
    EXPECT_EQ(d_->start, nullptr);  // no start()
    EXPECT_EQ(d_->reload, nullptr); // no reload(): the host recreates instead
}

TEST_F(Helper, NullArgumentsAreRejectedNotDereferenced) {
    Instance inst(d_, {{"mode", "none"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    tierd_inference_result out{};
    out.struct_size = sizeof out;
    EXPECT_EQ(inst.ops<tierd_inference_ops>()->infer(inst.get(), nullptr, nullptr, &out),
              TIERD_EINVAL);
    EXPECT_FALSE(inst.host().last_error.empty());
    tierd_task task{};
    task.struct_size = sizeof task;
    out.struct_size = 4;
    EXPECT_EQ(inst.ops<tierd_inference_ops>()->infer(inst.get(), &task, nullptr, &out),
              TIERD_EINVAL);
    EXPECT_NE(inst.host().last_error.find("struct_size"), std::string::npos);
}

} // namespace
