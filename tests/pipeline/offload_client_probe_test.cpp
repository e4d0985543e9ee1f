// OffloadClient's link probes on a real libuv loop, over a modelled end <-> broker link:
// at most one probe in flight on the end's connection, probes that hold a slow uplink only
// a few ms (also right after a drop), none while real offloads give the samples, and an
// estimate that follows a recovery within a second.
//
// The link is modelled, not emulated by the kernel (that needs root and network
// namespaces: bench/scheduler does it): each direction is a wire of `rate_bps` that
// serialises one message after the other (payload + kFramingBytes), then a one-way delay,
// as bench/edge_based/linkemu.py does per packet. The serving agent answers a probe at once
// and an image after kComputeMs, with real encoded replies (offload_codec).
#include "agent/pipeline/offload_client.hpp"

#include "agent/pipeline/offload_codec.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <vector>

namespace tierd {
namespace {

constexpr std::uint64_t kMs = 1000000;     // ns
constexpr std::size_t kFramingBytes = 100; // MQTT topic and properties, TCP/IP headers
constexpr double kComputeMs = 5.0;

// Every figure here comes from timing a real loop. Under AddressSanitizer the loop and
// the modelled wire run 2-3x slower, the measured round trips stretch with them, and so
// do the probe sizes and the times derived from them: the bounds are doubled there.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kTimeSlack = 2.0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr double kTimeSlack = 2.0;
#else
constexpr double kTimeSlack = 1.0;
#endif
#else
constexpr double kTimeSlack = 1.0;
#endif

// A probe's size and the bandwidth it measures come from a few ms timed through the
// wire's 1 ms ticks; a VM that pauses the loop a few ms (seen here on idle machines)
// makes one such figure 2-3x off. The bounds on them allow that much, and stay far below
// what 191e5a5 did (probes of 34-250 ms on the same links).
constexpr double kWireNoise = 3.0 * kTimeSlack;

// One message the end sent, as the link saw it.
struct Sent {
    std::uint64_t at_ns = 0;
    tierd_tier tier = TIERD_TIER_EDGE;
    bool probe = false;
    std::size_t bytes = 0, pad = 0;
    double airtime_ms = 0;   // on the uplink at the rate then
    std::size_t pending = 0; // offloads waiting for their reply when it was sent
};

class ProbeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(uv_loop_init(&loop), 0);
        ASSERT_EQ(uv_timer_init(&loop, &wire), 0);
        wire.data = this;
        ASSERT_EQ(uv_timer_start(&wire, &ProbeTest::on_wire, 1, 1), 0);
    }

    void TearDown() override {
        if (client) {
            bool closed = false;
            client->stop([&closed] { closed = true; });
            run_until([&] { return closed; }, 5000);
        }
        uv_close(reinterpret_cast<uv_handle_t *>(&wire), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
        EXPECT_EQ(uv_loop_close(&loop), 0);
    }

    void make_client(int probe_interval_ms) {
        OffloadClient::Options options;
        options.device_id = "end-test";
        options.timeout_ms = 3000;
        options.probe_interval_ms = probe_interval_ms;
        client = std::make_unique<OffloadClient>(&loop, options, [this](TaskPtr task) {
            answered += task->remote.ok ? 1 : 0;
            fallbacks += task->remote.ok ? 0 : 1;
        });
        Upstream upstream;
        upstream.online = [this](tierd_tier tier) {
            return tier == TIERD_TIER_EDGE || cloud_online;
        };
        upstream.send = [this](tierd_tier tier, const std::string &payload, const std::string &) {
            return carry(tier, payload);
        };
        client->set_upstream(std::move(upstream));
        client->start();
    }

    // Puts a request on the modelled uplink and schedules its answer.
    bool carry(tierd_tier tier, const std::string &payload) {
        std::string error;
        auto header = decode_offload_header(payload, error);
        EXPECT_TRUE(header) << error;
        if (!header)
            return false;
        const OffloadRequest &request = header->request;
        const std::uint64_t now = uv_hrtime();
        const bool probe = request.payload == OffloadRequest::Payload::probe;
        const double airtime_ms = transfer_ms(payload.size());
        sent.push_back(
            {now, tier, probe, payload.size(), request.pad, airtime_ms, client->pending()});
        up_free_ns = std::max(up_free_ns, now) + static_cast<std::uint64_t>(airtime_ms * 1e6);
        std::uint64_t off_hop = up_free_ns;
        if (tier == TIERD_TIER_EDGE && edge_hop_bps > 0) {
            // the edge's own hop after the shared one (broker -> edge agent)
            const double hop_ms =
                static_cast<double>(payload.size() + kFramingBytes) * 8.0 / edge_hop_bps * 1e3;
            edge_hop_free_ns =
                std::max(edge_hop_free_ns, off_hop) + static_cast<std::uint64_t>(hop_ms * 1e6);
            off_hop = edge_hop_free_ns;
        }
        std::uint64_t at_server = off_hop + static_cast<std::uint64_t>(delay_ms * 1e6);
        OffloadReply reply;
        reply.task_id = request.task_id;
        reply.device_id = tier == TIERD_TIER_EDGE ? "edge-1" : "cloud-1";
        reply.ok = true;
        if (probe) {
            reply.probe = true;
            reply.queue_depth = 0;
            ++probes_in_flight;
            max_probes_in_flight = std::max(max_probes_in_flight, probes_in_flight);
        } else {
            at_server += static_cast<std::uint64_t>(kComputeMs * 1e6);
            reply.model = "m";
            reply.scores = std::vector<float>(10, 0.1f);
            reply.top_class = 0;
            reply.top_score = 0.1f;
            reply.compute_ms = kComputeMs;
            reply.queue_ms = 0;
            reply.queue_depth = 0;
        }
        std::string encoded = encode_offload_reply(reply);
        down_free_ns = std::max(down_free_ns, at_server) +
                       static_cast<std::uint64_t>(transfer_ms(encoded.size()) * 1e6);
        deliveries.push({down_free_ns + static_cast<std::uint64_t>(delay_ms * 1e6), next_seq++,
                         std::move(encoded), probe});
        return true;
    }

    double transfer_ms(std::size_t payload) const {
        return static_cast<double>(payload + kFramingBytes) * 8.0 / rate_bps * 1000.0;
    }

    static void on_wire(uv_timer_t *timer) {
        auto *self = static_cast<ProbeTest *>(timer->data);
        const std::uint64_t now = uv_hrtime();
        while (!self->deliveries.empty() && self->deliveries.top().at_ns <= now) {
            Delivery d = self->deliveries.top();
            self->deliveries.pop();
            if (d.probe)
                --self->probes_in_flight;
            if (self->client)
                self->client->on_reply(d.payload);
        }
    }

    // Runs the loop until `done` or `limit_ms` have passed; returns `done()`.
    bool run_until(const std::function<bool()> &done, double limit_ms) {
        const std::uint64_t end = uv_hrtime() + static_cast<std::uint64_t>(limit_ms * 1e6);
        while (!done() && uv_hrtime() < end)
            uv_run(&loop, UV_RUN_ONCE);
        return done();
    }
    void run_for(double ms) {
        run_until([] { return false; }, ms);
    }

    // An image task for `tier`.
    void offload(tierd_tier tier) {
        auto task = std::make_unique<Task>();
        task->task_id = "t-" + std::to_string(next_task++);
        task->decision.tier = tier;
        std::snprintf(task->decision.model, sizeof task->decision.model, "m");
        task->in.image = cv::Mat(28, 28, CV_8UC1, cv::Scalar(0));
        client->send(std::move(task));
    }

    // Sends an edge task every 100 ms until `done` or `limit_ms`; returns how long it took
    // (ms), or -1.
    double stream_edge_until(const std::function<bool()> &done, double limit_ms) {
        const std::uint64_t start = uv_hrtime();
        std::uint64_t next = start;
        while (uv_hrtime() - start < static_cast<std::uint64_t>(limit_ms * 1e6)) {
            if (done())
                return static_cast<double>(uv_hrtime() - start) / 1e6;
            if (uv_hrtime() >= next) {
                offload(TIERD_TIER_EDGE);
                next += 100 * kMs;
            }
            uv_run(&loop, UV_RUN_ONCE);
        }
        return -1.0;
    }

    // 50 Mbit/s, 10 ms one way, probes every second: both tiers' estimates known, then a
    // second of edge traffic (the cloud carries none).
    void stream_to_the_edge_on_a_fast_link() {
        rate_bps = 50e6;
        delay_ms = 10;
        make_client(1000);
        ASSERT_TRUE(run_until(
            [&] { return bandwidth(TIERD_TIER_EDGE) > 5e6 && bandwidth(TIERD_TIER_CLOUD) > 5e6; },
            3000));
        stream_edge_until([] { return false; }, 1000);
    }

    // What the scheduler sees (the shared hop's bound applied).
    double bandwidth(tierd_tier tier) {
        return client->link_state(tier, uv_hrtime()).bandwidth_bps;
    }
    // The tier's own estimate, and the shared hop's bound on it (0: none), from status.
    double own_bandwidth(const char *tier) {
        nlohmann::json stats;
        client->add_stats(stats);
        return stats["links"][tier].value("bandwidth_bps", 0.0);
    }
    double shared_hop_bound(const char *tier) {
        nlohmann::json stats;
        client->add_stats(stats);
        return stats["links"][tier].value("shared_hop_bound_bps", 0.0);
    }

    // Every message sent, one a line, for a failure's message.
    std::string log() const {
        std::string out;
        const std::uint64_t t0 = sent.empty() ? 0 : sent.front().at_ns;
        for (const Sent &s : sent)
            out += std::to_string((s.at_ns - t0) / kMs) + " ms " +
                   (s.tier == TIERD_TIER_EDGE ? "edge " : "cloud ") +
                   (s.probe ? "probe pad " + std::to_string(s.pad) : std::string("task")) +
                   " pending " + std::to_string(s.pending) + "\n";
        return out;
    }

    std::vector<Sent> probes_since(std::uint64_t from_ns) const {
        std::vector<Sent> out;
        for (const Sent &s : sent)
            if (s.probe && s.at_ns >= from_ns)
                out.push_back(s);
        return out;
    }

    struct Delivery {
        std::uint64_t at_ns;
        std::uint64_t seq;
        std::string payload;
        bool probe;
        bool operator>(const Delivery &o) const {
            return at_ns != o.at_ns ? at_ns > o.at_ns : seq > o.seq;
        }
    };

    uv_loop_t loop{};
    uv_timer_t wire{};
    std::unique_ptr<OffloadClient> client;
    bool cloud_online = true;
    double rate_bps = 1e6, delay_ms = 10;
    // The shared uplink (end -> broker) is rate_bps; edge_hop_bps > 0 adds a hop of the
    // edge's own behind it (broker -> edge agent), one way.
    double edge_hop_bps = 0;
    std::uint64_t up_free_ns = 0, down_free_ns = 0, edge_hop_free_ns = 0, next_seq = 0;
    std::priority_queue<Delivery, std::vector<Delivery>, std::greater<>> deliveries;
    std::vector<Sent> sent;
    int probes_in_flight = 0, max_probes_in_flight = 0;
    int answered = 0, fallbacks = 0, next_task = 0;
};

// At 191e5a5 each probe was a small and a large message written back to back, and the
// edge's pair and the cloud's alternated half an interval apart: two (and on a slow link
// four) probes in flight, the cloud's queued behind the edge's.
TEST_F(ProbeTest, OneProbeAtATimeOnTheConnection) {
    rate_bps = 0.5e6;
    make_client(200);
    run_for(2500);
    const auto probes = probes_since(0);
    const auto to = [&](tierd_tier tier) {
        return std::count_if(probes.begin(), probes.end(),
                             [tier](const Sent &s) { return s.tier == tier; });
    };
    EXPECT_GT(to(TIERD_TIER_EDGE), 2);
    EXPECT_GT(to(TIERD_TIER_CLOUD), 2);
    EXPECT_EQ(max_probes_in_flight, 1);
    // Within kWireNoise of 0.5 Mbit/s: a 3 ms difference timed through the 1 ms wire ticks.
    EXPECT_GT(bandwidth(TIERD_TIER_EDGE), 0.5e6 / kWireNoise);
    EXPECT_LT(bandwidth(TIERD_TIER_EDGE), 0.5e6 * kWireNoise);
    EXPECT_GT(bandwidth(TIERD_TIER_CLOUD), 0.5e6 / kWireNoise);
    EXPECT_LT(bandwidth(TIERD_TIER_CLOUD), 0.5e6 * kWireNoise);
}

// Once the link is known to be slow, no probe holds it more than a few ms (at 191e5a5 the
// large probe was at least 2 KiB: 34 ms at 0.5 Mbit/s). After a drop that no traffic has
// shown yet (50 -> 1 Mbit/s), the probe that finds it holds the link ~10 ms (at 191e5a5 the
// large probe was sized for the old rate: 8 KiB, 65 ms; 250 ms when the cap was 64 KiB).
TEST_F(ProbeTest, ProbesHoldASlowUplinkOnlyAFewMs) {
    rate_bps = 0.5e6;
    make_client(200);
    ASSERT_TRUE(run_until(
        [&] { return bandwidth(TIERD_TIER_EDGE) > 0 && bandwidth(TIERD_TIER_CLOUD) > 0; }, 3000));
    const std::uint64_t known = uv_hrtime();
    run_for(1500);
    auto probes = probes_since(known);
    // Enough probes for the airtime check to mean something (~7 in 1.5 s when the machine
    // is idle; an ASan build on a loaded machine sent 4).
    ASSERT_GE(probes.size(), 3u);
    for (const Sent &s : probes)
        EXPECT_LE(s.airtime_ms, 7.0 * kWireNoise) << s.bytes << " bytes (pad " << s.pad << ")";

    rate_bps = 50e6;
    ASSERT_TRUE(run_until(
        [&] { return bandwidth(TIERD_TIER_EDGE) > 20e6 && bandwidth(TIERD_TIER_CLOUD) > 20e6; },
        5000));
    run_for(500);
    // The drop comes between probes (one that straddles it was sized by the canary
    // before it).
    ASSERT_TRUE(run_until([&] { return probes_in_flight == 0; }, 3000));
    rate_bps = 1e6;
    const std::uint64_t drop = uv_hrtime();
    ASSERT_TRUE(run_until(
        [&] { return bandwidth(TIERD_TIER_EDGE) < 2e6 && bandwidth(TIERD_TIER_CLOUD) < 2e6; },
        5000));
    probes = probes_since(drop);
    ASSERT_FALSE(probes.empty());
    for (const Sent &s : probes)
        EXPECT_LE(s.airtime_ms, 10.0 * kWireNoise) << s.bytes << " bytes (pad " << s.pad << ")";
}

// Real round trips are the samples: while an offload waits for its reply no probe goes
// out (it would delay the next request and read that traffic as the link's), and a tier
// whose traffic keeps its estimate fresh is not probed at all (on a fast link its quick
// transfers check the bandwidth; on a slow one they measure it, and only a lone small
// probe a second refreshes the rtt). At 191e5a5 both tiers were probed with a pair every
// interval whatever the traffic.
TEST_F(ProbeTest, NoProbeWhileOffloadsGiveSamples) {
    rate_bps = 50e6;
    delay_ms = 5;
    make_client(200);
    ASSERT_TRUE(run_until(
        [&] { return bandwidth(TIERD_TIER_EDGE) > 0 && bandwidth(TIERD_TIER_CLOUD) > 0; }, 3000));
    // Traffic to the edge: a task every 40 ms for 2 s.
    const std::uint64_t start = uv_hrtime();
    for (int i = 0; i < 50; ++i) {
        offload(TIERD_TIER_EDGE);
        run_for(40);
    }
    ASSERT_TRUE(run_until([&] { return client->pending() == 0; }, 3000));
    EXPECT_EQ(answered, 50);
    EXPECT_EQ(fallbacks, 0);
    const auto probes = probes_since(start + 300 * kMs);
    for (const Sent &s : probes) {
        EXPECT_EQ(s.pending, 0u) << "a probe was sent while an offload waited";
        EXPECT_NE(s.tier, TIERD_TIER_EDGE) << "the edge was probed although traffic measured it";
    }
    // The cloud, without traffic, is still probed (in the pauses).
    EXPECT_GT(std::count_if(probes.begin(), probes.end(),
                            [](const Sent &s) { return s.tier == TIERD_TIER_CLOUD; }),
              2);

    // On a slow link the traffic measures the bandwidth: the edge gets no pair (only a
    // lone small probe now and then for the rtt), and its estimate follows the link. (The
    // pauses between these round trips are too short for the cloud's pair: its probes go
    // out when its estimate is three intervals old, the traffic or not.)
    rate_bps = 0.5e6;
    delay_ms = 20;
    const std::uint64_t slow = uv_hrtime();
    for (int i = 0; i < 25; ++i) {
        offload(TIERD_TIER_EDGE);
        run_for(100);
    }
    ASSERT_TRUE(run_until([&] { return client->pending() == 0; }, 3000));
    EXPECT_EQ(answered, 75);
    for (const Sent &s : probes_since(slow + 500 * kMs)) {
        if (s.tier == TIERD_TIER_EDGE) {
            EXPECT_EQ(s.pad, 0u) << "a bandwidth probe to the edge although traffic measured it";
        }
    }
    // Within kWireNoise of 0.5 Mbit/s, far from the 50 it was: each sample is a ~16 ms
    // transfer timed through the loop, and a loop stalled ~10 ms halves it (an ASan
    // build on CI's 2 cores at 9d4ce43, this test alone: 0.21 Mbit/s).
    EXPECT_GT(bandwidth(TIERD_TIER_EDGE), 0.5e6 / kWireNoise);
    EXPECT_LT(bandwidth(TIERD_TIER_EDGE), 0.5e6 * kWireNoise);
    if (HasFailure())
        ADD_FAILURE() << "what the end sent:\n" << log();
}

// An idle link recovers (1 -> 50 Mbit/s): the estimates follow within a second — they
// leave the old rate by 5x (how close they come to 50 is as precise as the 1 ms wire
// ticks time a 1 ms transfer: 10-60 Mbit/s here; LinkEstimator.* checks the values) (with
// probe_interval_ms 500: the next probe, and one more to confirm the step). At 191e5a5
// (one pair a second per tier, three outliers in a row for a 50x step) it took ~3 s.
TEST_F(ProbeTest, FollowsARecoveryWithinASecond) {
    rate_bps = 1e6;
    make_client(500);
    ASSERT_TRUE(run_until(
        [&] { return bandwidth(TIERD_TIER_EDGE) > 0 && bandwidth(TIERD_TIER_CLOUD) > 0; }, 3000));
    run_for(1500);
    EXPECT_LT(bandwidth(TIERD_TIER_EDGE), 2e6);
    rate_bps = 50e6;
    const std::uint64_t recovery = uv_hrtime();
    EXPECT_TRUE(run_until(
        [&] { return bandwidth(TIERD_TIER_EDGE) > 5e6 && bandwidth(TIERD_TIER_CLOUD) > 5e6; },
        static_cast<int>(1000 * kTimeSlack)))
        << "after 1 s: edge " << bandwidth(TIERD_TIER_EDGE) / 1e6 << ", cloud "
        << bandwidth(TIERD_TIER_CLOUD) / 1e6 << " Mbit/s";
    EXPECT_LT(static_cast<double>((uv_hrtime() - recovery) / kMs), 1000 * kTimeSlack);
}

// A stream at 10 Hz whose round trip is longer than its period (a 120 ms rtt here), so
// that every request is sent while the one before waits for its reply, as at the end of
// the bench/scheduler stream (there: a 20 ms rtt and a link at 0.2-0.35 Mbit/s, where a
// round trip takes ~130 ms). The link drops from 50 to 0.2 Mbit/s, then recovers: the
// estimate follows each within a second. Before the fix a crowded request gave no sample
// and no probe went out while one was pending (only after three intervals, and then its
// pair could not go on): the estimate stayed at 50 Mbit/s for the rest of the stream.
TEST_F(ProbeTest, FollowsADropAndARecoveryWhenEveryRequestIsCrowded) {
    rate_bps = 50e6;
    delay_ms = 60;
    make_client(1000); // the agent's default interval
    ASSERT_TRUE(run_until([&] { return bandwidth(TIERD_TIER_EDGE) > 5e6; }, 3000));
    stream_edge_until([] { return false; }, 1500);
    const std::size_t tasks_before_drop = static_cast<std::size_t>(next_task);
    EXPECT_GT(bandwidth(TIERD_TIER_EDGE), 5e6);

    rate_bps = 0.2e6;
    const double drop_ms =
        stream_edge_until([&] { return bandwidth(TIERD_TIER_EDGE) < 0.4e6; }, 3000 * kTimeSlack);
    EXPECT_GE(drop_ms, 0.0) << "after 3 s at 0.2 Mbit/s: " << bandwidth(TIERD_TIER_EDGE) / 1e6
                            << " Mbit/s";
    EXPECT_LT(drop_ms, 1000 * kTimeSlack);
    // ... and stays near the rate (each sample a ~40 ms transfer timed through the loop:
    // loop stalls under ASan read it slower).
    stream_edge_until([] { return false; }, 1000);
    EXPECT_GT(bandwidth(TIERD_TIER_EDGE), 0.2e6 / (1.5 * kTimeSlack));
    EXPECT_LT(bandwidth(TIERD_TIER_EDGE), 0.2e6 * 1.5 * kTimeSlack);

    rate_bps = 50e6;
    const double recovery_ms =
        stream_edge_until([&] { return bandwidth(TIERD_TIER_EDGE) > 5e6; }, 3000 * kTimeSlack);
    EXPECT_GE(recovery_ms, 0.0) << "after 3 s at 50 Mbit/s: " << bandwidth(TIERD_TIER_EDGE) / 1e6
                                << " Mbit/s";
    EXPECT_LT(recovery_ms, 1000 * kTimeSlack);

    ASSERT_TRUE(run_until([&] { return client->pending() == 0; }, 5000));
    EXPECT_EQ(answered, next_task);
    EXPECT_EQ(fallbacks, 0);
    // The premise: (nearly) every task was sent while another waited for its reply (the
    // first was not; a loop that lagged 20 ms could send one more so).
    std::size_t tasks = 0, crowded = 0;
    for (const Sent &s : sent) {
        if (s.probe)
            continue;
        ++tasks;
        crowded += s.pending > 0 ? 1 : 0;
    }
    EXPECT_EQ(tasks, static_cast<std::size_t>(next_task));
    EXPECT_GE(crowded * 10, tasks * 9) << crowded << " of " << tasks << " tasks crowded";
    EXPECT_GE(tasks_before_drop, 10u);
    if (HasFailure())
        ADD_FAILURE() << "what the end sent:\n" << log();
}

// Four requests sent together every 400 ms over 0.5 Mbit/s: the k-th waits k times ~17 ms
// behind the others on the uplink. Each reply is a sample less that wait, so the estimate
// stays at the link's rate (within 20%, as NoProbeWhileOffloadsGiveSamples: the rtt that
// the probes measured includes some framing); taken with the waits in, the samples would
// read 0.55, 0.29, 0.2 and 0.15 Mbit/s and pull it to ~0.3. (Before the uplink was
// modelled only the first of each four gave a sample.)
TEST_F(ProbeTest, RequestsSentTogetherSampleTheLinkLessTheirWait) {
    rate_bps = 0.5e6;
    delay_ms = 20;
    make_client(1000);
    ASSERT_TRUE(run_until([&] { return bandwidth(TIERD_TIER_EDGE) > 0; }, 3000));
    const std::uint64_t start = uv_hrtime();
    for (int i = 0; i < 8; ++i) {
        for (int k = 0; k < 4; ++k)
            offload(TIERD_TIER_EDGE);
        run_for(400);
    }
    ASSERT_TRUE(run_until([&] { return client->pending() == 0; }, 3000));
    EXPECT_EQ(answered, 32);
    // Within 20% of 0.5 Mbit/s (0.3 if the waits counted). Under ASan a loop stall of
    // ~10 ms halves a ~16 ms sample (NoProbeWhileOffloadsGiveSamples read 0.21 Mbit/s in
    // CI at 9d4ce43), which swamps that difference: there only kWireNoise is asked, and
    // the release build checks the 20%.
    const double tolerance = kTimeSlack > 1.0 ? kWireNoise : 1.25;
    EXPECT_GT(bandwidth(TIERD_TIER_EDGE), 0.5e6 / tolerance);
    EXPECT_LT(bandwidth(TIERD_TIER_EDGE), 0.5e6 * tolerance);
    // The premise: three of each four went out while another was pending.
    std::size_t behind = 0;
    for (const Sent &s : sent)
        behind += !s.probe && s.at_ns >= start && s.pending > 0 ? 1 : 0;
    EXPECT_EQ(behind, 24u);
    if (HasFailure())
        ADD_FAILURE() << "what the end sent:\n" << log();
}

// Both tiers' paths begin with the end's uplink. A drop of it that the edge's traffic
// measures bounds the cloud's bandwidth at once (the cloud carries no tasks here, and its
// own estimate would wait for its probe), the cloud is probed for it at once, and the
// bound lifts when the cloud's own estimate has settled at the drop. (Without the bound,
// at 9d4ce43's code: the edge's estimate fell 151 ms after the drop, the cloud's 417 ms,
// when its next probe happened to come; in bench/scheduler's stream, whose traffic leaves
// the cloud's probes few pauses, it trailed by seconds.)
TEST_F(ProbeTest, ADropOfTheSharedUplinkSeenByTheEdgeBoundsTheCloudAtOnce) {
    ASSERT_NO_FATAL_FAILURE(stream_to_the_edge_on_a_fast_link());
    ASSERT_GT(bandwidth(TIERD_TIER_CLOUD), 5e6);

    rate_bps = 0.5e6;
    const std::uint64_t drop = uv_hrtime();
    double edge_ms = -1, cloud_ms = -1;
    stream_edge_until(
        [&] {
            const double ms = static_cast<double>(uv_hrtime() - drop) / 1e6;
            if (edge_ms < 0 && bandwidth(TIERD_TIER_EDGE) < 2e6)
                edge_ms = ms;
            if (cloud_ms < 0 && bandwidth(TIERD_TIER_CLOUD) < 2e6)
                cloud_ms = ms;
            return edge_ms >= 0 && cloud_ms >= 0;
        },
        3000 * kTimeSlack);
    ASSERT_GE(edge_ms, 0.0) << "the edge's traffic did not show the drop";
    ASSERT_GE(cloud_ms, 0.0) << "the cloud still at " << bandwidth(TIERD_TIER_CLOUD) / 1e6
                             << " Mbit/s";
    // In the same turn of the loop as the edge's estimate fell.
    EXPECT_LE(cloud_ms, edge_ms + 1.0) << "edge " << edge_ms << " ms, cloud " << cloud_ms;
    const std::uint64_t bounded = uv_hrtime();

    // The cloud's bandwidth probe follows (between the edge's round trips), and once its
    // own estimate has settled at the drop, the bound is gone.
    const double lifted_ms = stream_edge_until(
        [&] { return shared_hop_bound("cloud") == 0.0 && own_bandwidth("cloud") < 2e6; },
        3000 * kTimeSlack);
    EXPECT_GE(lifted_ms, 0.0) << "cloud's own estimate " << own_bandwidth("cloud") / 1e6
                              << " Mbit/s, bound " << shared_hop_bound("cloud") / 1e6;
    const auto probes = probes_since(bounded);
    EXPECT_TRUE(std::any_of(probes.begin(), probes.end(), [](const Sent &s) {
        return s.tier == TIERD_TIER_CLOUD && s.pad > 0;
    })) << "no bandwidth probe of the cloud";
    EXPECT_LT(bandwidth(TIERD_TIER_CLOUD), 0.5e6 * kWireNoise);
    EXPECT_GT(bandwidth(TIERD_TIER_CLOUD), 0.5e6 / kWireNoise);
    if (HasFailure())
        ADD_FAILURE() << "what the end sent:\n" << log();
}

// A drop on the edge's own hop (broker -> edge agent) looks the same from the end: the
// cloud is bounded too, wrongly, until its probe answers. That must be short: the cloud's
// estimate is back at the shared uplink's 50 Mbit/s within a second.
TEST_F(ProbeTest, ADropOfTheEdgesOwnHopBoundsTheCloudOnlyUntilItsProbe) {
    ASSERT_NO_FATAL_FAILURE(stream_to_the_edge_on_a_fast_link());

    edge_hop_bps = 0.5e6;
    const double bounded_ms =
        stream_edge_until([&] { return bandwidth(TIERD_TIER_CLOUD) < 2e6; }, 3000 * kTimeSlack);
    ASSERT_GE(bounded_ms, 0.0) << "the edge's drop did not bound the cloud (edge at "
                               << bandwidth(TIERD_TIER_EDGE) / 1e6 << " Mbit/s)";
    const double lifted_ms =
        stream_edge_until([&] { return bandwidth(TIERD_TIER_CLOUD) > 5e6; }, 3000 * kTimeSlack);
    EXPECT_GE(lifted_ms, 0.0) << "the cloud still at " << bandwidth(TIERD_TIER_CLOUD) / 1e6
                              << " Mbit/s";
    EXPECT_LT(lifted_ms, 1000 * kTimeSlack);
    EXPECT_LT(bandwidth(TIERD_TIER_EDGE), 2e6) << "the edge's own estimate keeps its drop";
    EXPECT_EQ(shared_hop_bound("cloud"), 0.0);
    if (HasFailure())
        ADD_FAILURE() << "what the end sent:\n" << log();
}

} // namespace
} // namespace tierd
