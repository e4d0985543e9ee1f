// UplinkBacklog: the wait of a message behind those the end sent before it on its one
// uplink, at the estimates of the moment, bounded by what answers prove.
#include "agent/pipeline/offload_client.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace tierd {
namespace {

constexpr std::uint64_t kMs = 1000000; // ns
constexpr std::uint64_t kT0 = 1000 * kMs;

// 1000 bytes of payload at 1 Mbit/s.
constexpr double kAirtimeMs = 8.0;

double at_1mbit(tierd_tier) {
    return 1e6;
}

TEST(UplinkBacklog, MessagesSentTogetherLeaveOneAfterTheOther) {
    UplinkBacklog uplink;
    const auto a = uplink.add(TIERD_TIER_EDGE, 1000, kT0);
    const auto b = uplink.add(TIERD_TIER_EDGE, 1000, kT0);
    const auto c = uplink.add(TIERD_TIER_EDGE, 1000, kT0 + 2 * kMs);
    EXPECT_DOUBLE_EQ(uplink.wait_ms(a, at_1mbit), 0.0);
    EXPECT_NEAR(uplink.wait_ms(b, at_1mbit), kAirtimeMs, 1e-6);
    EXPECT_NEAR(uplink.wait_ms(c, at_1mbit), 2 * kAirtimeMs - 2.0, 1e-6);
    // One sent after the queue has drained waits for nothing.
    const auto d = uplink.add(TIERD_TIER_EDGE, 1000, kT0 + 100 * kMs);
    EXPECT_DOUBLE_EQ(uplink.wait_ms(d, at_1mbit), 0.0);
}

// The airtimes are at the estimates when the wait is asked for, each message at its own
// tier's; an unknown bandwidth counts no time.
TEST(UplinkBacklog, AirtimesAtTheCurrentEstimateOfEachTier) {
    UplinkBacklog uplink;
    uplink.add(TIERD_TIER_CLOUD, 1000, kT0);
    const auto edge = uplink.add(TIERD_TIER_EDGE, 1000, kT0);
    const auto last = uplink.add(TIERD_TIER_EDGE, 0, kT0);
    const auto cloud_at = [](double cloud_bps) {
        return [cloud_bps](tierd_tier tier) { return tier == TIERD_TIER_CLOUD ? cloud_bps : 1e6; };
    };
    EXPECT_NEAR(uplink.wait_ms(edge, cloud_at(1e6)), kAirtimeMs, 1e-6);
    EXPECT_NEAR(uplink.wait_ms(edge, cloud_at(2e6)), kAirtimeMs / 2, 1e-6);
    EXPECT_DOUBLE_EQ(uplink.wait_ms(edge, cloud_at(0)), 0.0);
    EXPECT_NEAR(uplink.wait_ms(last, cloud_at(0)), kAirtimeMs, 1e-6);
}

// An answered message had left by the time its answer proves: a too slow estimate (here
// 100x) cannot pile the messages before it into a wait they never had.
TEST(UplinkBacklog, AnAnswerBoundsTheModel) {
    UplinkBacklog uplink;
    const auto slow = [](tierd_tier) { return 1e4; }; // 800 ms per message
    const auto a = uplink.add(TIERD_TIER_EDGE, 1000, kT0);
    const auto b = uplink.add(TIERD_TIER_EDGE, 1000, kT0 + 100 * kMs);
    const auto c = uplink.add(TIERD_TIER_EDGE, 1000, kT0 + 200 * kMs);
    EXPECT_NEAR(uplink.wait_ms(c, slow), 2 * 800.0 - 200.0, 1e-6);
    uplink.left(a, kT0 + 10 * kMs);
    EXPECT_NEAR(uplink.wait_ms(b, slow), 0.0, 1e-6);
    EXPECT_NEAR(uplink.wait_ms(c, slow), 800.0 - 100.0, 1e-6);
    uplink.left(b, kT0 + 150 * kMs);
    EXPECT_DOUBLE_EQ(uplink.wait_ms(c, slow), 0.0);
    // An answer never moves a message before its sending, nor makes the model later.
    uplink.left(c, 0);
    const auto d = uplink.add(TIERD_TIER_EDGE, 1000, kT0 + 200 * kMs);
    EXPECT_DOUBLE_EQ(uplink.wait_ms(d, slow), 0.0);
    const auto e = uplink.add(TIERD_TIER_EDGE, 1000, kT0 + 200 * kMs);
    uplink.left(d, kT0 + 5000 * kMs);
    EXPECT_NEAR(uplink.wait_ms(e, slow), 800.0, 1e-6);
}

TEST(UplinkBacklog, ForgottenMessagesWaitForNothing) {
    UplinkBacklog uplink;
    const auto a = uplink.add(TIERD_TIER_EDGE, 1000, kT0);
    const auto b = uplink.add(TIERD_TIER_EDGE, 1000, kT0 + 1 * kMs);
    uplink.forget_before(kT0 + 1 * kMs);
    EXPECT_EQ(uplink.size(), 1u);
    EXPECT_DOUBLE_EQ(uplink.wait_ms(a, at_1mbit), 0.0);
    EXPECT_DOUBLE_EQ(uplink.wait_ms(b, at_1mbit), 0.0);     // what it waited behind is forgotten
    EXPECT_DOUBLE_EQ(uplink.wait_ms(b + 1, at_1mbit), 0.0); // never recorded
    uplink.left(a, kT0);                                    // ignored
    // At most kMaxMessages are kept: the oldest go.
    for (std::size_t i = 0; i < UplinkBacklog::kMaxMessages + 10; ++i)
        uplink.add(TIERD_TIER_EDGE, 10, kT0 + 2 * kMs);
    EXPECT_EQ(uplink.size(), UplinkBacklog::kMaxMessages);
    uplink.clear();
    EXPECT_EQ(uplink.size(), 0u);
}

} // namespace
} // namespace tierd
