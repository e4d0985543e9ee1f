// What the outbox costs the agent's loop thread: the wall time of each put() and each
// acknowledged() call, as the loop sees it, with the spool on a real file
// (SPOOL_BENCH_DIR, default /var/tmp) and sync = "normal" and "full".
//
//   stream   connected; each result is put, published, and acknowledged at once (a broker
//            on loopback), 10,000 results: per put() and per acknowledged() call.
//   backlog  no broker; a 32 MiB spool (segment 16 MiB) under drop-oldest takes 70,000
//            results of 550 bytes, so it drops its oldest segment: per put().
//
// It uses only the Outbox API that both the loop-thread spool (before issue 15) and the
// writer-thread spool have, so bench/spool.sh builds it against both and runs them on the
// same machine in the same run. Prints one JSON document on stdout.
// Usage: spool_bench [--label NAME] [--stream N] [--backlog N]
#include "agent/spool/outbox.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Samples {
    std::vector<double> us;
    void add(Clock::time_point t0, Clock::time_point t1) {
        us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    nlohmann::json summary() {
        std::sort(us.begin(), us.end());
        auto at = [&](double q) {
            return us.empty()
                       ? 0.0
                       : us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))];
        };
        return {{"calls", us.size()},
                {"p50_us", at(0.50)},
                {"p99_us", at(0.99)},
                {"max_us", us.empty() ? 0.0 : us.back()}};
    }
};

std::string temp_dir() {
    const char *base = std::getenv("SPOOL_BENCH_DIR");
    std::string tmpl = std::string(base ? base : "/var/tmp") + "/tierd-spool-bench-XXXXXX";
    return mkdtemp(tmpl.data());
}

// The agent's loop: other handles keep it alive, as MQTT and the signals do in the agent.
struct Loop {
    uv_loop_t loop{};
    uv_timer_t agent{};
    Loop() {
        uv_loop_init(&loop);
        uv_timer_init(&loop, &agent);
        uv_timer_start(
            &agent, [](uv_timer_t *) {}, 3600000, 3600000);
    }
    ~Loop() {
        uv_close(reinterpret_cast<uv_handle_t *>(&agent), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
};

// A result document is ~500 bytes (docs/mqtt.md).
const std::string kTopic = "tierd/v1/dev/bench/results";
const std::string kPayload(550, 'r');

nlohmann::json stream(tierd::SpoolSync sync, int n) {
    const auto dir = temp_dir();
    Samples put, ack;
    std::uint64_t delivered = 0;
    {
        Loop l;
        std::deque<int> published;
        int next_mid = 1;
        tierd::SpoolOptions o;
        o.path = dir + "/spool.db";
        o.sync = sync;
        tierd::Outbox outbox(&l.loop, std::make_unique<tierd::Spool>(o), 32,
                             [&](const std::string &, const std::string &, int *mid) {
                                 *mid = next_mid++;
                                 published.push_back(*mid);
                                 return 0;
                             });
        outbox.connected();
        auto acknowledge_all = [&] {
            uv_run(&l.loop, UV_RUN_NOWAIT);
            while (!published.empty()) {
                const int mid = published.front();
                published.pop_front();
                const auto t0 = Clock::now();
                outbox.acknowledged(mid, 0);
                ack.add(t0, Clock::now());
            }
        };
        for (int i = 0; i < n; ++i) {
            const auto t0 = Clock::now();
            outbox.put(kTopic, kPayload);
            put.add(t0, Clock::now());
            acknowledge_all();
        }
        const auto deadline = Clock::now() + std::chrono::seconds(60);
        while (outbox.status()["delivered"].get<std::uint64_t>() < static_cast<std::uint64_t>(n) &&
               Clock::now() < deadline)
            acknowledge_all();
        delivered = outbox.status()["delivered"].get<std::uint64_t>();
        outbox.stop();
    }
    std::filesystem::remove_all(dir);
    return {{"put", put.summary()}, {"acknowledged", ack.summary()}, {"delivered", delivered}};
}

nlohmann::json backlog(tierd::SpoolSync sync, int n) {
    const auto dir = temp_dir();
    Samples put;
    nlohmann::json dropped;
    {
        Loop l;
        tierd::SpoolOptions o;
        o.path = dir + "/spool.db";
        o.sync = sync;
        o.max_bytes = std::int64_t{32} << 20;
        o.segment_bytes = std::int64_t{16} << 20;
        tierd::Outbox outbox(&l.loop, std::make_unique<tierd::Spool>(o), 32,
                             [](const std::string &, const std::string &, int *) { return 4; });
        for (int i = 0; i < n; ++i) {
            const auto t0 = Clock::now();
            outbox.put(kTopic, kPayload);
            put.add(t0, Clock::now());
            if (i % 64 == 0)
                uv_run(&l.loop, UV_RUN_NOWAIT);
        }
        // (The loop-thread spool has stored everything already; the writer thread's may
        // have a batch to go: status()'s "queued".)
        const auto deadline = Clock::now() + std::chrono::seconds(120);
        while (outbox.status().value("queued", 0) > 0 && Clock::now() < deadline)
            uv_run(&l.loop, UV_RUN_NOWAIT);
        dropped = outbox.status()["dropped"];
        outbox.stop();
    }
    std::filesystem::remove_all(dir);
    return {{"put", put.summary()}, {"dropped", dropped}};
}

} // namespace

int main(int argc, char **argv) {
    std::string label = "outbox";
    // Stdout carries the JSON document; the spool's log lines are not what is measured.
    spdlog::set_level(spdlog::level::off);
    int stream_n = 10000, backlog_n = 70000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--label")
            label = argv[i + 1];
        else if (a == "--stream")
            stream_n = std::atoi(argv[i + 1]);
        else if (a == "--backlog")
            backlog_n = std::atoi(argv[i + 1]);
    }
    nlohmann::json rows = nlohmann::json::array();
    for (auto sync : {tierd::SpoolSync::normal, tierd::SpoolSync::full}) {
        const std::string s = sync == tierd::SpoolSync::full ? "full" : "normal";
        auto st = stream(sync, stream_n);
        for (const char *op : {"put", "acknowledged"}) {
            auto row = st[op];
            row["variant"] = label;
            row["scenario"] = "stream";
            row["sync"] = s;
            row["op"] = op;
            rows.push_back(row);
        }
        auto bl = backlog(sync, backlog_n);
        auto row = bl["put"];
        row["variant"] = label;
        row["scenario"] = "backlog";
        row["sync"] = s;
        row["op"] = "put";
        row["dropped_oldest"] = bl["dropped"].value("oldest", 0);
        rows.push_back(row);
    }
    std::cout << nlohmann::json{{"rows", rows}}.dump(1) << std::endl;
    return 0;
}
