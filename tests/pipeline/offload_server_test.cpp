// The offload server on a real libuv loop with a real inference plugin (.so): what it
// answers, when, what it bounds, and on which thread the plugin is torn down.
#include "agent/pipeline/offload_server.hpp"

#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/offload_codec.hpp"
#include "agent/plugin_host/host_backend.hpp"
#include "agent/plugin_host/plugin_instance.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tierd {
namespace {

// The plugin needs no MQTT, HAL or energy here.
class QuietBackend : public HostBackend {
  public:
    int publish(const std::string &, std::string, int, bool) override { return TIERD_OK; }
    int post(std::function<void()>) override { return TIERD_EBUSY; }
    int hal_json(const std::string &, std::string &) override { return TIERD_ENOTSUP; }
    int energy_read(tierd_energy_reading &) override { return TIERD_ENOTSUP; }
    std::string device_id() override { return "edge-test"; }
};

// One reply as the end would receive it.
struct Reply {
    std::string topic, correlation;
    nlohmann::json doc;
    std::uint64_t at_ns = 0; // uv_hrtime() when sent
};

// "TDI1" | length | header | body, for headers the encoder would not write.
std::string frame(const nlohmann::json &header, const std::string &body) {
    const std::string h = header.dump();
    const auto n = static_cast<std::uint32_t>(h.size());
    std::string out = "TDI1";
    out += static_cast<char>(n >> 24);
    out += static_cast<char>(n >> 16);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n);
    return out + h + body;
}

// A gray8 image request of width x height zero pixels.
std::string gray_request(const std::string &task_id, int width, int height) {
    return frame({{"v", 1},
                  {"task_id", task_id},
                  {"device_id", "end-1"},
                  {"model", ""},
                  {"format", "gray8"},
                  {"width", width},
                  {"height", height}},
                 std::string(static_cast<std::size_t>(width) * height, '\0'));
}

// CPU time this thread has used, ms.
double thread_cpu_ms() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

class OffloadServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(uv_loop_init(&loop), 0);
        ASSERT_EQ(uv_timer_init(&loop, &tick), 0);
        auto opened = PluginLibrary::open(SLOW_INFER_PLUGIN_PATH);
        ASSERT_TRUE(opened.ok()) << opened.error;
        library = opened.library;
        report = std::filesystem::temp_directory_path() /
                 ("offload-server-test-" + std::to_string(getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove(report);
    }

    void TearDown() override {
        // Work still on the pool (a batch, a release) finishes before the server goes:
        // its completions run on the loop and use the server.
        uv_close(reinterpret_cast<uv_handle_t *>(&tick), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
        server.reset();
        if (inference)
            release(std::move(inference));
        uv_run(&loop, UV_RUN_DEFAULT);
        EXPECT_EQ(uv_loop_close(&loop), 0);
        std::filesystem::remove(report);
    }

    // A started instance of test-slow-infer whose infer() takes `infer_ms`; its destroy()
    // writes "loop" or "worker" to `report`.
    std::shared_ptr<PluginInstance> make_inference(int infer_ms) {
        PluginConfigValues config =
            default_config_values("test-slow-infer", library->descriptor().config_keys);
        config.entries["infer_ms"].value = std::int64_t{infer_ms};
        config.entries["destroy_report"].value = report.string();
        auto created = PluginInstance::create(library, config, backend);
        EXPECT_TRUE(created.ok()) << created.error;
        if (!created.ok())
            return nullptr;
        EXPECT_TRUE(created.instance->start().ok());
        return std::shared_ptr<PluginInstance>(std::move(created.instance));
    }

    // As the agent does: the last reference goes on a worker.
    void release(std::shared_ptr<PluginInstance> instance) {
        queue_loop_work(
            &loop, [instance = std::move(instance)]() mutable { instance.reset(); }, {},
            "test release");
    }

    void make_server(OffloadServer::Limits limits) {
        server = std::make_unique<OffloadServer>(
            &loop, "edge-test", limits, [this] { return inference; },
            [this](const std::string &topic, const std::string &payload,
                   const std::string &correlation) {
                replies.push_back(
                    {topic, correlation, nlohmann::json::parse(payload), uv_hrtime()});
            },
            [this](std::shared_ptr<PluginInstance> instance) { release(std::move(instance)); });
    }

    // Runs the loop until `done` holds or `seconds` pass; the tick wakes it to check.
    bool run_until(const std::function<bool()> &done, double seconds = 10.0) {
        uv_timer_start(
            &tick, [](uv_timer_t *) {}, 5, 5);
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(seconds));
        bool ok = done();
        while (!ok && std::chrono::steady_clock::now() < deadline) {
            uv_run(&loop, UV_RUN_ONCE);
            ok = done();
        }
        uv_timer_stop(&tick);
        return ok;
    }

    const Reply *reply_for(const std::string &correlation) const {
        for (const auto &r : replies)
            if (r.correlation == correlation)
                return &r;
        return nullptr;
    }
    std::size_t replies_for(const std::string &correlation) const {
        return static_cast<std::size_t>(
            std::count_if(replies.begin(), replies.end(),
                          [&](const Reply &r) { return r.correlation == correlation; }));
    }
    std::string code_of(const std::string &correlation) const {
        const Reply *r = reply_for(correlation);
        if (!r)
            return "<no reply>";
        return r->doc.at("ok").get<bool>() ? "ok"
                                           : r->doc.at("error").at("code").get<std::string>();
    }
    void send(const std::string &task_id, std::string payload) {
        server->handle(std::move(payload), "tierd/v1/dev/end-1/offload/reply", task_id);
    }

    uv_loop_t loop{};
    uv_timer_t tick{};
    QuietBackend backend;
    std::shared_ptr<PluginLibrary> library;
    std::filesystem::path report;
    std::shared_ptr<PluginInstance> inference; // what the agent's plugin set holds
    std::unique_ptr<OffloadServer> server;
    std::vector<Reply> replies;
};

OffloadServer::Limits one_at_a_time() {
    OffloadServer::Limits limits;
    limits.jobs = 1;
    limits.batch_max = 1;
    return limits;
}

// Issue 15 item 10: the batch's reference to the instance must not be the one dropped on
// the loop when the plugin was unloaded while the batch ran.
TEST_F(OffloadServerTest, PluginUnloadedDuringABatchIsDestroyedOnAWorker) {
    inference = make_inference(1000);
    ASSERT_NE(inference, nullptr);
    make_server(one_at_a_time());
    send("a", gray_request("a", 28, 28));
    // The agent unloads the plugin: it drops its own reference on a worker.
    bool retired = false;
    queue_loop_work(
        &loop, [instance = std::move(inference)]() mutable { instance.reset(); },
        [&] { retired = true; }, "unload");
    ASSERT_TRUE(run_until([&] { return retired; }));
    ASSERT_EQ(replies.size(), 0u) << "the batch ended before the unload; nothing was tested";
    ASSERT_TRUE(run_until([&] { return std::filesystem::exists(report); }));
    EXPECT_EQ(code_of("a"), "ok");
    std::ifstream in(report);
    std::string where;
    in >> where;
    EXPECT_EQ(where, "worker") << "the plugin's destroy() ran on the loop thread";
}

// Issue 15 item 6: stop() answers what waits at once and lets the running batch reply.
TEST_F(OffloadServerTest, StopAnswersWaitingRequestsAtOnceAndFinishesTheRunningBatch) {
    inference = make_inference(600);
    make_server(one_at_a_time());
    for (const char *id : {"a", "b", "c"})
        send(id, gray_request(id, 28, 28));
    EXPECT_EQ(server->stats()["waiting"], 2);
    const std::uint64_t stopped_at = uv_hrtime();
    std::uint64_t done_at = 0;
    server->stop([&] { done_at = uv_hrtime(); });
    EXPECT_EQ(done_at, 0u) << "done ran while a batch still computes";
    // The waiting ones are answered before the running one finishes.
    ASSERT_TRUE(run_until([&] { return reply_for("b") && reply_for("c"); }));
    EXPECT_EQ(code_of("b"), "shutting_down");
    EXPECT_EQ(code_of("c"), "shutting_down");
    EXPECT_LT(static_cast<double>(reply_for("c")->at_ns - stopped_at) / 1e6, 100.0);
    EXPECT_EQ(reply_for("a"), nullptr);
    // New requests are refused at once, counted.
    send("d", gray_request("d", 28, 28));
    EXPECT_EQ(code_of("d"), "shutting_down");
    // done follows the running batch's reply: the connection must be up until then.
    ASSERT_TRUE(run_until([&] { return done_at != 0; }));
    ASSERT_NE(reply_for("a"), nullptr);
    EXPECT_EQ(code_of("a"), "ok");
    EXPECT_LE(reply_for("a")->at_ns, done_at);
    EXPECT_EQ(server->stats()["shutting_down"], 3);
    EXPECT_EQ(server->stats()["served"], 1);
    for (const char *id : {"a", "b", "c", "d"})
        EXPECT_EQ(replies_for(id), 1u) << id;
}

TEST_F(OffloadServerTest, StopWithNothingRunningIsDoneAtOnceAndMayDestroyTheServer) {
    inference = make_inference(0);
    make_server(one_at_a_time());
    send("a", gray_request("a", 28, 28));
    ASSERT_TRUE(run_until([&] { return reply_for("a") != nullptr; }));
    int done = 0;
    server->stop([&] {
        ++done;
        server.reset(); // the agent may let go of the server in its callback
    });
    EXPECT_EQ(done, 1);
    EXPECT_EQ(server, nullptr);
}

// Issue 15 item 12: a large image is decoded on a worker; the loop only reads the header.
// A ratio, not a fixed bound: the decode of the same payload is timed in the same run, so a
// slow machine or a sanitizer build slows both sides alike. Both in this thread's CPU
// time: handle() wakes a worker, and on a busy machine the loop thread can lose its core
// to it or to others for a while (with both cores busy, wall time read ~0.8 ms for a
// handle() that takes 55 us of CPU, against a 2 ms decode).
TEST_F(OffloadServerTest, LargeRequestIsNotDecodedOnTheLoop) {
    inference = make_inference(0);
    make_server(one_at_a_time());
    // 4000 x 4000 gray8: 16 MB of pixels, within the default bounds.
    double fastest_handle_ms = 1e9;
    double fastest_decode_ms = 1e9;
    for (int i = 0; i < 5; ++i) {
        const std::string id = "big-" + std::to_string(i);
        std::string payload = gray_request(id, 4000, 4000);
        {
            std::string error;
            const double start = thread_cpu_ms();
            auto decoded = decode_offload_request(payload, error);
            fastest_decode_ms = std::min(fastest_decode_ms, thread_cpu_ms() - start);
            ASSERT_TRUE(decoded) << error;
        }
        const double start = thread_cpu_ms();
        send(id, std::move(payload));
        fastest_handle_ms = std::min(fastest_handle_ms, thread_cpu_ms() - start);
        ASSERT_TRUE(run_until([&] { return reply_for(id) != nullptr; }));
        EXPECT_EQ(code_of(id), "ok");
    }
    // Decoding copies 16 MB (milliseconds); reading the header takes microseconds.
    RecordProperty("fastest_handle_us", static_cast<int>(fastest_handle_ms * 1000.0));
    RecordProperty("fastest_decode_us", static_cast<int>(fastest_decode_ms * 1000.0));
    EXPECT_LT(fastest_handle_ms, fastest_decode_ms / 4.0)
        << "handle() blocked the loop for " << fastest_handle_ms << " ms; decoding takes "
        << fastest_decode_ms << " ms";
}

// Issue 15 item 11: what waits is bounded by bytes as well as by count.
TEST_F(OffloadServerTest, RequestsBeyondTheByteBoundAreRefusedBusy) {
    inference = make_inference(300);
    make_server(one_at_a_time()); // the default bound: 64 MiB
    for (int i = 0; i < 6; ++i) {
        const std::string id = "r" + std::to_string(i);
        send(id, gray_request(id, 4000, 4000)); // 16 MB each: four fit
    }
    ASSERT_TRUE(run_until([&] { return replies.size() == 6; }, 20.0));
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(code_of("r" + std::to_string(i)), i < 4 ? "ok" : "busy") << i;
    const auto stats = server->stats();
    EXPECT_EQ(stats["busy"], 2);
    EXPECT_EQ(stats["busy_bytes"], 2);
    EXPECT_EQ(stats["in_flight_bytes"], 0);
}

// Issue 14 item 2: width x height is checked against max_pixels before anything is
// allocated, and refused "too_large".
TEST_F(OffloadServerTest, ImagesOverMaxPixelsAreRefusedTooLarge) {
    inference = make_inference(0);
    make_server(one_at_a_time()); // the default bound: 16,777,216 pixels
    send("huge", gray_request("huge", 5000, 4000));
    send("fits", gray_request("fits", 4096, 4096));
    ASSERT_TRUE(run_until([&] { return replies.size() == 2; }));
    EXPECT_EQ(code_of("huge"), "too_large");
    EXPECT_NE(reply_for("huge")->doc["error"]["message"].get<std::string>().find("20000000"),
              std::string::npos)
        << reply_for("huge")->doc.dump();
    EXPECT_EQ(code_of("fits"), "ok");
    EXPECT_EQ(server->stats()["too_large"], 1);
}

// Issue 15 item 7: the wire's budget_ms (the time the end waits, from its publish) is
// what the server checks; a request that waited here past it is not computed.
TEST_F(OffloadServerTest, RequestWaitingPastItsBudgetIsNotComputed) {
    inference = make_inference(300);
    make_server(one_at_a_time());
    send("a", gray_request("a", 28, 28));
    auto late = [](const std::string &id, const char *field) {
        return frame({{"v", 1},
                      {"task_id", id},
                      {"device_id", "end-1"},
                      {"format", "gray8"},
                      {"width", 2},
                      {"height", 2},
                      {field, 50}},
                     std::string(4, '\0'));
    };
    send("new", late("new", "budget_ms"));
    send("old", late("old", "deadline_ms")); // an end that predates budget_ms
    ASSERT_TRUE(run_until([&] { return replies.size() == 3; }));
    EXPECT_EQ(code_of("a"), "ok");
    EXPECT_EQ(code_of("new"), "deadline_exceeded");
    EXPECT_EQ(code_of("old"), "deadline_exceeded");
    EXPECT_EQ(server->stats()["expired"], 2);
    EXPECT_EQ(server->stats()["served"], 1);
}

// Issue 15 item 1 (the server's part): every request is answered or counted, whatever
// the server's state: received = the sum of the outcomes once nothing is in flight.
TEST_F(OffloadServerTest, EveryRequestIsAnsweredOrCountedInEveryState) {
    make_server(one_at_a_time()); // no inference plugin yet
    send("early", gray_request("early", 28, 28));
    EXPECT_EQ(code_of("early"), "no_inference");
    server->handle(gray_request("x", 28, 28), "", "no-topic"); // cannot be answered
    send("junk", "not a request");
    EXPECT_EQ(code_of("junk"), "bad_request");
    OffloadRequest probe;
    probe.payload = OffloadRequest::Payload::probe;
    probe.task_id = "p";
    send("p", encode_offload_request(probe));
    EXPECT_EQ(code_of("p"), "ok");
    inference = make_inference(0);
    send("served", gray_request("served", 28, 28));
    ASSERT_TRUE(run_until([&] { return reply_for("served") != nullptr; }));
    server->stop();
    send("late", gray_request("late", 28, 28));
    EXPECT_EQ(code_of("late"), "shutting_down");
    const auto s = server->stats();
    EXPECT_EQ(s["received"], 6);
    EXPECT_EQ(s["no_inference"], 1);
    EXPECT_EQ(s["bad"], 2);
    EXPECT_EQ(s["probes"], 1);
    EXPECT_EQ(s["served"], 1);
    EXPECT_EQ(s["shutting_down"], 1);
    std::int64_t outcomes = 0;
    for (const char *k : {"served", "failed", "busy", "bad", "too_large", "no_inference",
                          "shutting_down", "expired", "probes", "in_flight"})
        outcomes += s[k].get<std::int64_t>();
    EXPECT_EQ(outcomes, s["received"].get<std::int64_t>()) << s.dump();
    for (const char *id : {"early", "junk", "p", "served", "late"})
        EXPECT_EQ(replies_for(id), 1u) << id;
}

} // namespace
} // namespace tierd
