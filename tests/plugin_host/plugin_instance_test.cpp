#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/plugin_host/plugin_instance.hpp"
#include "recording_backend.hpp"

namespace tierd {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::shared_ptr<PluginLibrary> open_library(const char *path) {
    auto r = PluginLibrary::open(path);
    EXPECT_TRUE(r.ok()) << r.error;
    return r.library;
}

// A task without an image: the test plugins never look at it.
tierd_task make_task() {
    tierd_task task{};
    task.struct_size = sizeof task;
    task.task_id = "t1";
    task.source = "test";
    return task;
}

class PluginInstanceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        library = open_library(GOOD_PLUGIN_PATH);
        ASSERT_NE(library, nullptr);
        config = default_config_values("test-good", library->descriptor().config_keys);
    }

    // Creates and starts an instance of the good plugin with `config`.
    std::unique_ptr<PluginInstance> started() {
        auto r = PluginInstance::create(library, config, backend);
        EXPECT_TRUE(r.ok()) << r.error;
        if (!r.ok())
            return nullptr;
        PluginCallResult s = r.instance->start();
        EXPECT_TRUE(s.ok()) << s.to_string();
        return std::move(r.instance);
    }

    // Runs infer() with a fresh score buffer of `capacity` floats set to -1.
    PluginCallResult infer(PluginInstance &instance, const std::string &model,
                           std::uint32_t capacity = 8) {
        scores.assign(8, -1.0f);
        out = tierd_inference_result{};
        out.scores = scores.data();
        out.score_capacity = capacity;
        return instance.infer(task, model, out);
    }

    test::RecordingBackend backend;
    std::shared_ptr<PluginLibrary> library;
    PluginConfigValues config;
    tierd_task task = make_task();
    std::vector<float> scores;
    tierd_inference_result out{};
};

// The C test plugin has no infer_batch (its ops table is the 1.0 layout): the host answers
// a batch with one infer() per task, and a plugin that has one (inference-opencv) is
// covered in tests/plugins and tests/integration (edge_batches).
TEST_F(PluginInstanceTest, BatchWithoutInferBatchRunsOneByOne) {
    auto inst = started();
    ASSERT_NE(inst, nullptr);
    EXPECT_FALSE(inst->offers_batch());
    std::vector<std::vector<float>> buffers(3, std::vector<float>(8, -1.0f));
    std::vector<tierd_inference_result> outs(3);
    for (std::size_t i = 0; i < 3; ++i) {
        outs[i].scores = buffers[i].data();
        outs[i].score_capacity = 8;
    }
    tierd_task a = make_task(), b = make_task(), c = make_task();
    bool batched = true;
    auto results = inst->infer_batch({&a, &b, &c}, "", outs, &batched);
    EXPECT_FALSE(batched);
    ASSERT_EQ(results.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(results[i].ok()) << results[i].to_string();
        EXPECT_EQ(outs[i].score_count, 3u);
        EXPECT_EQ(outs[i].top_class, 2);
    }
    EXPECT_EQ(inst->metrics().snapshot().counters.at("inferences"), 3.0);
    // One result per task is the contract.
    std::vector<tierd_inference_result> two(2);
    results = inst->infer_batch({&a, &b, &c}, "", two);
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].code, TIERD_EINVAL);
}

TEST(PluginCallResult, FormatsCodeNameAndReason) {
    EXPECT_EQ((PluginCallResult{TIERD_EIO, "disk gone"}).to_string(),
              "TIERD_EIO (input/output error): disk gone");
    EXPECT_EQ((PluginCallResult{TIERD_OK, ""}).to_string(), "TIERD_OK (success)");
    EXPECT_TRUE((PluginCallResult{}).ok());
    EXPECT_FALSE((PluginCallResult{TIERD_EBUSY, ""}).ok());
}

TEST_F(PluginInstanceTest, RunsTheWholeLifecycle) {
    auto r = PluginInstance::create(library, config, backend);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.code, TIERD_OK);
    EXPECT_EQ(r.error, "");
    PluginInstance &inst = *r.instance;
    EXPECT_EQ(inst.name(), "test-good.0");
    EXPECT_EQ(inst.kind(), TIERD_KIND_INFERENCE);
    EXPECT_EQ(inst.descriptor().version, "1.2.3");
    EXPECT_FALSE(inst.running());
    // create() ran: it counted itself through the services table.
    EXPECT_EQ(inst.metrics().snapshot().counters.at("creates"), 1.0);

    ASSERT_TRUE(inst.start().ok());
    EXPECT_TRUE(inst.running());
    EXPECT_EQ(inst.metrics().snapshot().gauges.at("threads"), 4.0); // start() ran

    PluginCallResult call = infer(inst, "");
    ASSERT_TRUE(call.ok()) << call.to_string();
    EXPECT_EQ(call.error, "");
    EXPECT_EQ(out.struct_size, sizeof(tierd_inference_result));
    EXPECT_EQ(out.score_count, 3u);
    EXPECT_EQ(scores, (std::vector<float>{0.5f, 1.0f, 1.5f, -1, -1, -1, -1, -1}));
    EXPECT_EQ(out.top_class, 2);
    EXPECT_FLOAT_EQ(out.top_score, 1.5f);
    EXPECT_STREQ(out.model, "good \"one\"");
    EXPECT_EQ(out.energy_j, -1.0); // the plugin did not measure: reset to "unknown"
    EXPECT_EQ(inst.metrics().snapshot().counters.at("inferences"), 1.0);
    auto p = backend.publishes();
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].subtopic, "result");
    EXPECT_EQ(p[0].payload, R"({"threads":4,"backend":"cpu"})");
    EXPECT_EQ(p[0].qos, 1);
    EXPECT_FALSE(p[0].retain);

    inst.stop();
    EXPECT_FALSE(inst.running());
    inst.stop(); // idempotent

    // The instance holds the library open; destroying it lets go.
    EXPECT_EQ(library.use_count(), 2);
    r.instance.reset();
    EXPECT_EQ(library.use_count(), 1);
}

TEST_F(PluginInstanceTest, NamesTheInstanceByIndex) {
    auto r = PluginInstance::create(library, config, backend, 3);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.instance->name(), "test-good.3");
}

TEST_F(PluginInstanceTest, ServicesReachTheBackend) {
    auto inst = started();
    ASSERT_NE(inst, nullptr);
    ASSERT_TRUE(infer(*inst, "hal").ok());
    EXPECT_EQ(out.energy_j, 12.5);
    EXPECT_STREQ(out.energy_source, "measured:test-sensor");
    auto p = backend.publishes();
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].subtopic, "hal");
    EXPECT_EQ(p[0].payload, R"({"cpu":{"cores":4}})");
    EXPECT_TRUE(p[0].retain);
    EXPECT_EQ(p[1].subtopic, "result");
}

TEST_F(PluginInstanceTest, ConfigValuesReachThePlugin) {
    config.entries.at("threads").value = std::int64_t{8};
    config.entries.at("backend").value = std::string("cuda");
    config.entries.at("label").value = std::string("resnet-tiny");
    config.entries.at("scale").value = 2.0;
    auto inst = started();
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(inst->metrics().snapshot().gauges.at("threads"), 8.0);
    ASSERT_TRUE(infer(*inst, "").ok());
    EXPECT_EQ(scores[0], 2.0f);
    EXPECT_EQ(scores[2], 6.0f);
    EXPECT_STREQ(out.model, "resnet-tiny");
    auto p = backend.publishes();
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].payload, R"({"threads":8,"backend":"cuda"})");
}

TEST_F(PluginInstanceTest, PluginErrorsComeWithThePluginsReason) {
    auto inst = started();
    ASSERT_NE(inst, nullptr);
    PluginCallResult call = infer(*inst, "broken");
    EXPECT_EQ(call.code, TIERD_ENOENT);
    EXPECT_EQ(call.error, "no such model: broken");
    EXPECT_EQ(call.to_string(), "TIERD_ENOENT (no such entry): no such model: broken");

    // The reason was taken: the next successful call carries none.
    call = infer(*inst, "");
    EXPECT_TRUE(call.ok());
    EXPECT_EQ(call.error, "");
}

TEST_F(PluginInstanceTest, ScoreBufferTooSmallIsErangeAndNotOverrun) {
    auto inst = started();
    ASSERT_NE(inst, nullptr);
    PluginCallResult call = infer(*inst, "", 2);
    EXPECT_EQ(call.code, TIERD_ERANGE);
    EXPECT_EQ(out.score_count, 3u); // plugin.h: the number it has, so the caller can grow
    EXPECT_EQ(scores, (std::vector<float>{0.5f, 1.0f, -1, -1, -1, -1, -1, -1}));

    // No buffer at all: the host passes capacity 0 whatever the caller claimed.
    out = tierd_inference_result{};
    out.score_capacity = 100;
    call = inst->infer(task, "", out);
    EXPECT_EQ(call.code, TIERD_ERANGE);
    EXPECT_EQ(out.score_capacity, 0u);
    EXPECT_EQ(out.scores, nullptr);
}

TEST_F(PluginInstanceTest, CreateFailureCarriesThePluginsReason) {
    auto bad = open_library(BAD_CREATE_FAILS_PATH);
    ASSERT_NE(bad, nullptr);
    auto r = PluginInstance::create(
        bad, default_config_values("test-bad", bad->descriptor().config_keys), backend);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.instance, nullptr);
    EXPECT_EQ(r.code, TIERD_EIO);
    EXPECT_EQ(r.error,
              "test-bad.0: create failed: TIERD_EIO (input/output error): model file is corrupt");
    // Nothing keeps the library: the failed instance is gone.
    EXPECT_EQ(bad.use_count(), 1);
}

TEST_F(PluginInstanceTest, RefusesConfigForAnotherPlugin) {
    config.plugin_name = "someone-else";
    auto r = PluginInstance::create(library, config, backend);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, TIERD_ECONFIG);
    EXPECT_THAT(r.error, StartsWith("test-good.0: create failed: TIERD_ECONFIG"));
    EXPECT_THAT(r.error, HasSubstr("configuration is for plugin \"someone-else\""));
    // The plugin was never asked.
    EXPECT_TRUE(backend.publishes().empty());
}

TEST_F(PluginInstanceTest, RefusesANullLibrary) {
    auto r = PluginInstance::create(nullptr, config, backend);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, TIERD_EINVAL);
    EXPECT_EQ(r.error, "no plugin library");
}

TEST_F(PluginInstanceTest, OpsOfAnotherKindAreNotSupported) {
    auto inst = started();
    ASSERT_NE(inst, nullptr);

    tierd_schedule_context context{};
    context.struct_size = sizeof context;
    tierd_decision decision{};
    PluginCallResult call = inst->decide(task, nullptr, context, decision);
    EXPECT_EQ(call.code, TIERD_ENOTSUP);
    EXPECT_THAT(call.error, HasSubstr("test-good.0"));
    EXPECT_THAT(call.error, HasSubstr("inference plugin"));
    EXPECT_THAT(call.error, HasSubstr("no decide()"));

    tierd_preclass_result pre{};
    call = inst->classify(task, pre);
    EXPECT_EQ(call.code, TIERD_ENOTSUP);
    EXPECT_THAT(call.error, HasSubstr("no classify()"));

    tierd_inference_result local{}, fused{};
    call = inst->fuse(task, &local, nullptr, fused);
    EXPECT_EQ(call.code, TIERD_ENOTSUP);
    EXPECT_THAT(call.error, HasSubstr("no fuse()"));

    // Refusals never reach the plugin.
    EXPECT_TRUE(backend.publishes().empty());
    EXPECT_EQ(inst->metrics().snapshot().counters.count("inferences"), 0u);
}

TEST_F(PluginInstanceTest, OpsAreBusyBeforeStartAndAfterStop) {
    auto r = PluginInstance::create(library, config, backend);
    ASSERT_TRUE(r.ok()) << r.error;
    PluginInstance &inst = *r.instance;

    PluginCallResult call = infer(inst, "");
    EXPECT_EQ(call.code, TIERD_EBUSY);
    EXPECT_THAT(call.error, HasSubstr("test-good.0 is not running"));

    ASSERT_TRUE(inst.start().ok());
    ASSERT_TRUE(infer(inst, "").ok());
    inst.stop();

    call = infer(inst, "");
    EXPECT_EQ(call.code, TIERD_EBUSY);
    EXPECT_THAT(call.error, HasSubstr("not running"));
    // Only the one call while running reached the plugin.
    EXPECT_EQ(inst.metrics().snapshot().counters.at("inferences"), 1.0);
    EXPECT_EQ(backend.publishes().size(), 1u);

    // Kind is checked first: a wrong-kind op stays ENOTSUP after stop.
    tierd_preclass_result pre{};
    EXPECT_EQ(inst.classify(task, pre).code, TIERD_ENOTSUP);
}

TEST_F(PluginInstanceTest, StartsOnceAndNeverAfterStop) {
    auto r = PluginInstance::create(library, config, backend);
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_TRUE(r.instance->start().ok());
    EXPECT_EQ(r.instance->start().code, TIERD_EBUSY);
    r.instance->stop();
    EXPECT_EQ(r.instance->start().code, TIERD_EBUSY);
    EXPECT_FALSE(r.instance->running());
}

TEST_F(PluginInstanceTest, StopWithoutStartIsFinal) {
    auto r = PluginInstance::create(library, config, backend);
    ASSERT_TRUE(r.ok()) << r.error;
    r.instance->stop();
    EXPECT_FALSE(r.instance->running());
    EXPECT_EQ(r.instance->start().code, TIERD_EBUSY);
    EXPECT_EQ(infer(*r.instance, "").code, TIERD_EBUSY);
}

TEST_F(PluginInstanceTest, ReloadWithoutPluginSupportAsksForARecreate) {
    auto inst = started();
    ASSERT_NE(inst, nullptr);
    PluginCallResult call = inst->reload(config);
    EXPECT_EQ(call.code, TIERD_ENOTSUP);
    EXPECT_THAT(call.error, HasSubstr("recreate"));

    PluginConfigValues other = config;
    other.plugin_name = "someone-else";
    EXPECT_EQ(inst->reload(other).code, TIERD_ECONFIG);

    inst->stop();
    EXPECT_EQ(inst->reload(config).code, TIERD_EBUSY);
}

TEST_F(PluginInstanceTest, SerializesConcurrentCalls) {
    auto inst = started();
    ASSERT_NE(inst, nullptr);
    constexpr int kThreads = 4;
    constexpr int kCalls = 25;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            std::vector<float> buffer(4);
            for (int i = 0; i < kCalls; ++i) {
                tierd_inference_result result{};
                result.scores = buffer.data();
                result.score_capacity = 4;
                // "slow" sleeps inside the plugin, which reports overlapping calls.
                if (!inst->infer(task, "slow", result).ok())
                    ++failures;
            }
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(inst->metrics().snapshot().counters.at("inferences"), double(kThreads * kCalls));
}

} // namespace
} // namespace tierd
