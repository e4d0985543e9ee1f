#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "agent/plugin_host/host_handle.hpp"
#include "agent/plugin_host/host_services.hpp"
#include "agent/plugin_host/plugin_config_values.hpp"
#include "recording_backend.hpp"

namespace tierd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Routes spdlog's default logger into a string for the life of the object.
class CapturedLog {
  public:
    CapturedLog() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
        sink->set_pattern("%l %v");
        auto logger = std::make_shared<spdlog::logger>("capture", sink);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~CapturedLog() { spdlog::set_default_logger(previous_); }
    CapturedLog(const CapturedLog &) = delete;
    CapturedLog &operator=(const CapturedLog &) = delete;

    std::string text() const { return stream_.str(); }

  private:
    std::ostringstream stream_;
    std::shared_ptr<spdlog::logger> previous_;
};

// A backend whose calls throw, to check that no exception crosses into the plugin.
class ThrowingBackend : public test::RecordingBackend {
  public:
    int publish(const std::string &, std::string, int, bool) override {
        throw std::runtime_error("broker exploded");
    }
    int post(std::function<void()>) override { throw std::bad_alloc(); }
    int hal_json(const std::string &, std::string &) override { throw 42; }
    int energy_read(tierd_energy_reading &) override { throw std::logic_error("no sensor"); }
};

void count_call(void *arg) {
    ++*static_cast<int *>(arg);
}

class HostServices : public ::testing::Test {
  protected:
    HostServices() {
        auto add = [&](const char *key, tierd_config_type type, PluginConfigValue value) {
            config.entries[key] = {type, false, true, std::move(value)};
        };
        config.plugin_name = "test-svc";
        add("enabled", TIERD_CONFIG_BOOL, true);
        add("threads", TIERD_CONFIG_INT, std::int64_t{-12});
        add("scale", TIERD_CONFIG_DOUBLE, 0.25);
        add("label", TIERD_CONFIG_STRING, std::string("hello"));
        add("backend", TIERD_CONFIG_ENUM, std::string("cuda"));
        add("model", TIERD_CONFIG_PATH, std::string("/models/m.onnx"));
    }

    test::RecordingBackend backend;
    tierd_host host{"test-svc.0", "test-svc", backend};
    tierd_host_services svc = make_host_services(TIERD_ABI_VERSION);
    PluginConfigValues config;
};

TEST_F(HostServices, FillsTheWholeTable) {
    EXPECT_EQ(svc.struct_size, sizeof(tierd_host_services));
    EXPECT_EQ(svc.abi_version, TIERD_ABI_VERSION);
    EXPECT_NE(svc.log, nullptr);
    EXPECT_NE(svc.set_error, nullptr);
    EXPECT_NE(svc.counter_add, nullptr);
    EXPECT_NE(svc.gauge_set, nullptr);
    EXPECT_NE(svc.monotonic_ns, nullptr);
    EXPECT_NE(svc.realtime_ns, nullptr);
    EXPECT_NE(svc.hal_json, nullptr);
    EXPECT_NE(svc.energy_read, nullptr);
    EXPECT_NE(svc.publish, nullptr);
    EXPECT_NE(svc.post, nullptr);
    EXPECT_NE(svc.free, nullptr);
    EXPECT_NE(svc.config_bool, nullptr);
    EXPECT_NE(svc.config_int, nullptr);
    EXPECT_NE(svc.config_double, nullptr);
    EXPECT_NE(svc.config_string, nullptr);
    for (void *r : svc.reserved)
        EXPECT_EQ(r, nullptr);
    // The negotiated version is the plugin's, whatever it was.
    EXPECT_EQ(make_host_services(TIERD_ABI_MAKE(1, 7)).abi_version, TIERD_ABI_MAKE(1, 7));
}

TEST_F(HostServices, LogPrefixesTheInstanceNameAtTheRightLevel) {
    CapturedLog log;
    svc.log(&host, TIERD_LOG_DEBUG, "d-msg");
    svc.log(&host, TIERD_LOG_INFO, "i-msg {not a format}");
    svc.log(&host, TIERD_LOG_WARNING, "w-msg");
    svc.log(&host, TIERD_LOG_ERROR, "e-msg");
    svc.log(&host, static_cast<tierd_log_level>(99), "odd-level");
    const std::string text = log.text();
    EXPECT_THAT(text, HasSubstr("debug [test-svc.0] d-msg\n"));
    EXPECT_THAT(text, HasSubstr("info [test-svc.0] i-msg {not a format}\n"));
    EXPECT_THAT(text, HasSubstr("warning [test-svc.0] w-msg\n"));
    EXPECT_THAT(text, HasSubstr("error [test-svc.0] e-msg\n"));
    EXPECT_THAT(text, HasSubstr("info [test-svc.0] odd-level\n"));
}

TEST_F(HostServices, LogToleratesNullAndBoundsLongMessages) {
    CapturedLog log;
    svc.log(nullptr, TIERD_LOG_ERROR, "no host");
    svc.log(&host, TIERD_LOG_INFO, nullptr);
    svc.log(&host, TIERD_LOG_INFO, std::string(10000, 'x').c_str());
    const std::string text = log.text();
    EXPECT_THAT(text, Not(HasSubstr("no host")));
    EXPECT_THAT(text, HasSubstr("info [test-svc.0] \n"));
    EXPECT_THAT(text, HasSubstr("[test-svc.0] " + std::string(4096, 'x') + "\n"));
    EXPECT_THAT(text, Not(HasSubstr(std::string(4097, 'x'))));
}

TEST_F(HostServices, SetErrorFillsTheSlotThatTakeErrorEmpties) {
    svc.set_error(&host, "model file is corrupt");
    EXPECT_EQ(host.take_error(), "model file is corrupt");
    EXPECT_EQ(host.take_error(), "");

    svc.set_error(&host, "first");
    svc.set_error(&host, "second"); // the latest reason wins
    EXPECT_EQ(host.take_error(), "second");

    svc.set_error(&host, nullptr);
    EXPECT_EQ(host.take_error(), "");
    svc.set_error(nullptr, "nobody"); // must not crash

    svc.set_error(&host, std::string(10000, 'e').c_str());
    EXPECT_EQ(host.take_error(), std::string(4096, 'e'));
}

TEST_F(HostServices, MetricsLandInTheInstance) {
    svc.counter_add(&host, "inferences", 1);
    svc.counter_add(&host, "inferences", 2);
    svc.gauge_set(&host, "queue_depth", 5);
    svc.gauge_set(&host, "queue_depth", 3);
    // Ignored, not fatal: bad names, negative counter deltas, NULLs.
    svc.counter_add(&host, "Bad-Name", 1);
    svc.counter_add(&host, "inferences", -10);
    svc.counter_add(&host, nullptr, 1);
    svc.gauge_set(&host, nullptr, 1);
    svc.counter_add(nullptr, "inferences", 1);
    svc.gauge_set(nullptr, "queue_depth", 1);
    auto s = host.metrics.snapshot();
    EXPECT_EQ(s.counters, (std::map<std::string, double>{{"inferences", 3.0}}));
    EXPECT_EQ(s.gauges, (std::map<std::string, double>{{"queue_depth", 3.0}}));
}

TEST_F(HostServices, ClocksAreMonotonicAndWall) {
    const std::uint64_t m0 = svc.monotonic_ns(&host);
    const std::uint64_t m1 = svc.monotonic_ns(&host);
    EXPECT_LE(m0, m1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::uint64_t m2 = svc.monotonic_ns(nullptr); // needs no host
    EXPECT_GE(m2 - m1, 2'000'000u);

    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto wall = static_cast<long long>(svc.realtime_ns(&host));
    EXPECT_LT(std::llabs(wall - static_cast<long long>(now)), 5'000'000'000LL);
    EXPECT_GT(wall, 1'600'000'000LL * 1'000'000'000LL); // after 2020: nanoseconds, UTC epoch
}

TEST_F(HostServices, ConfigAccessorsReadDeclaredKeysOfTheirType) {
    const tierd_config *c = &config;
    int b = 0;
    std::int64_t i = 0;
    double d = 0;
    const char *s = nullptr;
    ASSERT_EQ(svc.config_bool(c, "enabled", &b), TIERD_OK);
    EXPECT_EQ(b, 1);
    ASSERT_EQ(svc.config_int(c, "threads", &i), TIERD_OK);
    EXPECT_EQ(i, -12);
    ASSERT_EQ(svc.config_double(c, "scale", &d), TIERD_OK);
    EXPECT_EQ(d, 0.25);
    ASSERT_EQ(svc.config_string(c, "label", &s), TIERD_OK);
    EXPECT_STREQ(s, "hello");
    // ENUM and PATH keys are read with config_string too.
    ASSERT_EQ(svc.config_string(c, "backend", &s), TIERD_OK);
    EXPECT_STREQ(s, "cuda");
    ASSERT_EQ(svc.config_string(c, "model", &s), TIERD_OK);
    EXPECT_STREQ(s, "/models/m.onnx");

    config.entries["enabled"].value = false;
    ASSERT_EQ(svc.config_bool(c, "enabled", &b), TIERD_OK);
    EXPECT_EQ(b, 0);
}

TEST_F(HostServices, ConfigAccessorsRejectTypeMismatchesWithEinval) {
    const tierd_config *c = &config;
    int b = 7;
    std::int64_t i = 7;
    double d = 7;
    const char *s = "untouched";
    EXPECT_EQ(svc.config_bool(c, "threads", &b), TIERD_EINVAL);
    EXPECT_EQ(svc.config_bool(c, "label", &b), TIERD_EINVAL);
    EXPECT_EQ(svc.config_int(c, "scale", &i), TIERD_EINVAL);
    EXPECT_EQ(svc.config_int(c, "enabled", &i), TIERD_EINVAL);
    EXPECT_EQ(svc.config_double(c, "enabled", &d), TIERD_EINVAL);
    EXPECT_EQ(svc.config_double(c, "model", &d), TIERD_EINVAL);
    EXPECT_EQ(svc.config_string(c, "threads", &s), TIERD_EINVAL);
    EXPECT_EQ(svc.config_string(c, "scale", &s), TIERD_EINVAL);
    EXPECT_EQ(svc.config_string(c, "enabled", &s), TIERD_EINVAL);
    // A refused read leaves the output alone.
    EXPECT_EQ(b, 7);
    EXPECT_EQ(i, 7);
    EXPECT_EQ(d, 7);
    EXPECT_STREQ(s, "untouched");
}

TEST_F(HostServices, ConfigAccessorsReportUndeclaredKeysWithEnoent) {
    const tierd_config *c = &config;
    int b = 0;
    std::int64_t i = 0;
    double d = 0;
    const char *s = nullptr;
    EXPECT_EQ(svc.config_bool(c, "nope", &b), TIERD_ENOENT);
    EXPECT_EQ(svc.config_int(c, "nope", &i), TIERD_ENOENT);
    EXPECT_EQ(svc.config_double(c, "nope", &d), TIERD_ENOENT);
    EXPECT_EQ(svc.config_string(c, "nope", &s), TIERD_ENOENT);
    EXPECT_EQ(svc.config_string(c, "", &s), TIERD_ENOENT);
    EXPECT_EQ(svc.config_int(c, "THREADS", &i), TIERD_ENOENT); // keys are case-sensitive
    EXPECT_EQ(s, nullptr);
}

TEST_F(HostServices, ConfigAccessorsRejectNullArguments) {
    const tierd_config *c = &config;
    int b = 0;
    std::int64_t i = 0;
    double d = 0;
    const char *s = nullptr;
    EXPECT_EQ(svc.config_bool(nullptr, "enabled", &b), TIERD_EINVAL);
    EXPECT_EQ(svc.config_bool(c, nullptr, &b), TIERD_EINVAL);
    EXPECT_EQ(svc.config_bool(c, "enabled", nullptr), TIERD_EINVAL);
    EXPECT_EQ(svc.config_int(nullptr, "threads", &i), TIERD_EINVAL);
    EXPECT_EQ(svc.config_int(c, nullptr, &i), TIERD_EINVAL);
    EXPECT_EQ(svc.config_int(c, "threads", nullptr), TIERD_EINVAL);
    EXPECT_EQ(svc.config_double(nullptr, "scale", &d), TIERD_EINVAL);
    EXPECT_EQ(svc.config_double(c, nullptr, &d), TIERD_EINVAL);
    EXPECT_EQ(svc.config_double(c, "scale", nullptr), TIERD_EINVAL);
    EXPECT_EQ(svc.config_string(nullptr, "label", &s), TIERD_EINVAL);
    EXPECT_EQ(svc.config_string(c, nullptr, &s), TIERD_EINVAL);
    EXPECT_EQ(svc.config_string(c, "label", nullptr), TIERD_EINVAL);
}

TEST_F(HostServices, HalJsonIsForwardedAndTransferredWithMalloc) {
    char *json = nullptr;
    ASSERT_EQ(svc.hal_json(&host, "cpu", &json), TIERD_OK);
    ASSERT_NE(json, nullptr);
    EXPECT_STREQ(json, R"({"cpu":{"cores":4}})");
    svc.free(json); // the plugin's way to give it back
    svc.free(nullptr);

    json = reinterpret_cast<char *>(0x1); // a stale value the service must clear
    EXPECT_EQ(svc.hal_json(&host, "gpu", &json), TIERD_ENOENT); // the backend's code
    EXPECT_EQ(json, nullptr);
}

TEST_F(HostServices, HalJsonRejectsNullArguments) {
    char *json = reinterpret_cast<char *>(0x1);
    EXPECT_EQ(svc.hal_json(nullptr, "cpu", &json), TIERD_EINVAL);
    EXPECT_EQ(json, nullptr);
    json = reinterpret_cast<char *>(0x1);
    EXPECT_EQ(svc.hal_json(&host, nullptr, &json), TIERD_EINVAL);
    EXPECT_EQ(json, nullptr);
    EXPECT_EQ(svc.hal_json(&host, "cpu", nullptr), TIERD_EINVAL);
}

TEST_F(HostServices, EnergyReadIsForwarded) {
    tierd_energy_reading r{};
    r.struct_size = sizeof r;
    ASSERT_EQ(svc.energy_read(&host, &r), TIERD_OK);
    EXPECT_EQ(r.struct_size, sizeof r);
    EXPECT_EQ(r.energy_j, 12.5);
    EXPECT_EQ(r.power_w, 3.0);
    EXPECT_STREQ(r.source, "measured:test-sensor");
}

TEST_F(HostServices, EnergyReadWritesOnlyAsFarAsTheCallersStruct) {
    // A plugin whose reading struct ends before `source` (an older, shorter layout).
    struct Padded {
        tierd_energy_reading reading;
        char canary[8];
    } p;
    std::memset(&p, 0x5a, sizeof p);
    const auto short_size = static_cast<std::uint32_t>(offsetof(tierd_energy_reading, source));
    p.reading.struct_size = short_size;
    ASSERT_EQ(svc.energy_read(&host, &p.reading), TIERD_OK);
    EXPECT_EQ(p.reading.struct_size, short_size); // its struct_size stays its own
    EXPECT_EQ(p.reading.energy_j, 12.5);
    EXPECT_EQ(p.reading.power_w, 3.0);
    for (char c : p.reading.source)
        ASSERT_EQ(c, 0x5a);
    for (char c : p.canary)
        ASSERT_EQ(c, 0x5a);
}

TEST_F(HostServices, EnergyReadRejectsNullAndUnsizedStructs) {
    tierd_energy_reading r{};
    EXPECT_EQ(svc.energy_read(&host, nullptr), TIERD_EINVAL);
    r.struct_size = sizeof r;
    EXPECT_EQ(svc.energy_read(nullptr, &r), TIERD_EINVAL);
    r.struct_size = 0; // the caller forgot to set it
    EXPECT_EQ(svc.energy_read(&host, &r), TIERD_EINVAL);
    EXPECT_EQ(r.energy_j, 0.0);
}

TEST_F(HostServices, PublishIsForwardedWithItsPayload) {
    const char payload[] = {'a', '\0', 'b'}; // binary-safe: length, not NUL, ends it
    ASSERT_EQ(svc.publish(&host, "result", payload, sizeof payload, 1, 0), TIERD_OK);
    ASSERT_EQ(svc.publish(&host, "status/health", "{}", 2, 2, 1), TIERD_OK);
    ASSERT_EQ(svc.publish(&host, "empty", nullptr, 0, 0, 7), TIERD_OK);
    auto p = backend.publishes();
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(p[0].subtopic, "result");
    EXPECT_EQ(p[0].payload, std::string("a\0b", 3));
    EXPECT_EQ(p[0].qos, 1);
    EXPECT_FALSE(p[0].retain);
    EXPECT_EQ(p[1].subtopic, "status/health");
    EXPECT_EQ(p[1].payload, "{}");
    EXPECT_EQ(p[1].qos, 2);
    EXPECT_TRUE(p[1].retain);
    EXPECT_EQ(p[2].payload, "");
    EXPECT_TRUE(p[2].retain); // any non-zero retain means retain
}

TEST_F(HostServices, PublishRejectsBadArgumentsAndTopics) {
    EXPECT_EQ(svc.publish(nullptr, "result", "x", 1, 0, 0), TIERD_EINVAL);
    EXPECT_EQ(svc.publish(&host, nullptr, "x", 1, 0, 0), TIERD_EINVAL);
    EXPECT_EQ(svc.publish(&host, "result", nullptr, 1, 0, 0), TIERD_EINVAL);
    EXPECT_EQ(svc.publish(&host, "result", "x", 1, -1, 0), TIERD_EINVAL);
    EXPECT_EQ(svc.publish(&host, "result", "x", 1, 3, 0), TIERD_EINVAL);
    for (const char *topic : {"", "/abs", "trailing/", "a//b", "a/+/b", "#", "a/#"})
        EXPECT_EQ(svc.publish(&host, topic, "x", 1, 0, 0), TIERD_EINVAL) << topic;
    EXPECT_TRUE(backend.publishes().empty());
}

TEST_F(HostServices, PostRunsOnTheLoopLater) {
    int calls = 0;
    ASSERT_EQ(svc.post(&host, count_call, &calls), TIERD_OK);
    ASSERT_EQ(svc.post(&host, count_call, &calls), TIERD_OK); // never merged
    EXPECT_EQ(calls, 0);                                      // queued, not run inline
    EXPECT_EQ(backend.run_posted(), 2);
    EXPECT_EQ(calls, 2);
}

TEST_F(HostServices, PostRefusesWhileShuttingDownAndNullArguments) {
    int calls = 0;
    EXPECT_EQ(svc.post(nullptr, count_call, &calls), TIERD_EINVAL);
    EXPECT_EQ(svc.post(&host, nullptr, &calls), TIERD_EINVAL);
    backend.shutting_down = true;
    EXPECT_EQ(svc.post(&host, count_call, &calls), TIERD_EBUSY);
    EXPECT_EQ(backend.run_posted(), 0);
    EXPECT_EQ(calls, 0);
}

TEST(HostServicesGuard, BackendExceptionsBecomeErrorCodes) {
    CapturedLog log;
    ThrowingBackend backend;
    tierd_host host{"test-svc.1", "test-svc", backend};
    const tierd_host_services svc = make_host_services(TIERD_ABI_VERSION);
    int calls = 0;
    EXPECT_EQ(svc.publish(&host, "result", "x", 1, 0, 0), TIERD_EIO);
    EXPECT_EQ(svc.post(&host, count_call, &calls), TIERD_ENOMEM);
    char *json = nullptr;
    EXPECT_EQ(svc.hal_json(&host, "cpu", &json), TIERD_EIO);
    EXPECT_EQ(json, nullptr);
    tierd_energy_reading r{};
    r.struct_size = sizeof r;
    EXPECT_EQ(svc.energy_read(&host, &r), TIERD_EIO);
    EXPECT_EQ(calls, 0);
    EXPECT_THAT(log.text(), HasSubstr("[test-svc.1] publish failed: broker exploded"));
    EXPECT_THAT(log.text(), HasSubstr("[test-svc.1] energy_read failed: no sensor"));
}

} // namespace
} // namespace tierd
