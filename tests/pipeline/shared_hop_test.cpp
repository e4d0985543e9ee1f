// SharedHopBound on estimates written out by hand: when a drop of one tier's bandwidth
// passes on to the other, and when it stops.
#include "agent/pipeline/shared_hop.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace tierd {
namespace {

constexpr std::uint64_t kMs = 1000000;

// A settled estimate of `bps`, last checked at `checked_ms`.
LinkEstimator::Estimate link(double bps, std::uint64_t checked_ms, bool unconfirmed = false) {
    LinkEstimator::Estimate e;
    e.bandwidth_bps = bps;
    e.bandwidth_checked_ns = checked_ms * kMs;
    e.bandwidth_age_ms = 0; // checked (the bound reads only whether)
    e.bandwidth_unconfirmed = unconfirmed;
    return e;
}

constexpr int kEdge = 0, kCloud = 1;

TEST(SharedHopBound, NothingPassesOnWhileNeitherFalls) {
    SharedHopBound hop;
    LinkEstimator::Estimate links[2] = {link(50e6, 10), link(40e6, 20)};
    hop.observe(links);
    EXPECT_EQ(hop.bound(kEdge, links), 0.0);
    EXPECT_EQ(hop.bound(kCloud, links), 0.0);
    // Wobbles under kDropFactor stay with their tier.
    links[kEdge] = link(50e6 / 1.4, 30);
    hop.observe(links);
    EXPECT_EQ(hop.bound(kCloud, links), 0.0);
}

TEST(SharedHopBound, AFallOfOneBoundsTheOtherUntilItIsMeasured) {
    SharedHopBound hop;
    LinkEstimator::Estimate links[2] = {link(50e6, 10), link(40e6, 20)};
    hop.observe(links);
    // The edge's traffic measures a drop to 1 Mbit/s; the cloud was checked before it.
    links[kEdge] = link(1e6, 100);
    hop.observe(links);
    EXPECT_EQ(hop.bound(kCloud, links), 1e6);
    EXPECT_TRUE(hop.bounded(kCloud, links));
    EXPECT_EQ(hop.bound(kEdge, links), 0.0) << "the cloud did not fall";
    // The cloud's probe answers with a lone outlier: not settled, the bound holds.
    links[kCloud] = link(38e6, 150, /*unconfirmed=*/true);
    hop.observe(links);
    EXPECT_EQ(hop.bound(kCloud, links), 1e6);
    // Settled: the cloud's own figure from now on, whatever it is (here its own hop
    // was not the one that fell).
    links[kCloud] = link(39e6, 200);
    hop.observe(links);
    EXPECT_EQ(hop.bound(kCloud, links), 0.0);
    EXPECT_EQ(hop.bound(kEdge, links), 0.0) << "the edge was checked after the cloud's value";
}

TEST(SharedHopBound, TheFallIsCountedFromTheOthersLastCheck) {
    SharedHopBound hop;
    LinkEstimator::Estimate links[2] = {link(50e6, 10), link(40e6, 20)};
    hop.observe(links);
    // A ramp: each step under kDropFactor, together more (the cloud unchecked meanwhile).
    for (int k = 1; k <= 4; ++k) {
        links[kEdge] = link(50e6 * std::pow(0.8, k), 20 + 100 * static_cast<std::uint64_t>(k));
        hop.observe(links);
    }
    const double edge_now = 50e6 * std::pow(0.8, 4); // 20.5 Mbit/s: 2.4x below
    EXPECT_EQ(hop.bound(kCloud, links), edge_now);
}

TEST(SharedHopBound, ARiseIsNotPassedOn) {
    SharedHopBound hop;
    LinkEstimator::Estimate links[2] = {link(1e6, 10), link(1e6, 20)};
    hop.observe(links);
    links[kEdge] = link(50e6, 100);
    hop.observe(links);
    EXPECT_EQ(hop.bound(kCloud, links), 0.0);
}

TEST(SharedHopBound, UnknownEstimatesBoundNothing) {
    SharedHopBound hop;
    LinkEstimator::Estimate links[2] = {link(50e6, 10), LinkEstimator::Estimate{}};
    hop.observe(links);
    links[kEdge] = link(1e6, 100);
    hop.observe(links);
    // The cloud was never checked: nothing to bound (its unknown bandwidth is 0 anyway).
    EXPECT_EQ(hop.bound(kCloud, links), 0.0);
    // The edge's reference is an unknown cloud: no fall of it can be seen.
    links[kCloud] = link(1e6, 200);
    hop.observe(links);
    EXPECT_EQ(hop.bound(kEdge, links), 0.0);
}

} // namespace
} // namespace tierd
