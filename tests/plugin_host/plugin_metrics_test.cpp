#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agent/plugin_host/plugin_metrics.hpp"

namespace tierd {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(PluginMetrics, AcceptsOnlyLowercaseDigitsAndUnderscoreNames) {
    EXPECT_TRUE(PluginMetrics::valid_name("a"));
    EXPECT_TRUE(PluginMetrics::valid_name("inferences"));
    EXPECT_TRUE(PluginMetrics::valid_name("last_compute_ms"));
    EXPECT_TRUE(PluginMetrics::valid_name("_0_9_"));
    EXPECT_TRUE(PluginMetrics::valid_name(std::string(128, 'x')));

    EXPECT_FALSE(PluginMetrics::valid_name(""));
    EXPECT_FALSE(PluginMetrics::valid_name(std::string(129, 'x')));
    EXPECT_FALSE(PluginMetrics::valid_name("Inferences"));
    EXPECT_FALSE(PluginMetrics::valid_name("compute-ms"));
    EXPECT_FALSE(PluginMetrics::valid_name("compute.ms"));
    EXPECT_FALSE(PluginMetrics::valid_name("compute ms"));
    EXPECT_FALSE(PluginMetrics::valid_name("a/b"));
    EXPECT_FALSE(PluginMetrics::valid_name("caf\xc3\xa9"));
    EXPECT_FALSE(PluginMetrics::valid_name(std::string("a\0b", 3)));
}

TEST(PluginMetrics, InvalidNamesChangeNothing) {
    PluginMetrics m;
    EXPECT_FALSE(m.counter_add("Bad-Name", 1));
    EXPECT_FALSE(m.gauge_set("", 1));
    EXPECT_FALSE(m.gauge_set("x.y", 1));
    auto s = m.snapshot();
    EXPECT_TRUE(s.counters.empty());
    EXPECT_TRUE(s.gauges.empty());
}

TEST(PluginMetrics, CountersAccumulateAndOnlyGrow) {
    PluginMetrics m;
    EXPECT_TRUE(m.counter_add("inferences", 1));
    EXPECT_TRUE(m.counter_add("inferences", 2.5));
    EXPECT_TRUE(m.counter_add("inferences", 0)); // zero is not a decrease
    EXPECT_EQ(m.snapshot().counters.at("inferences"), 3.5);

    EXPECT_FALSE(m.counter_add("inferences", -1));
    EXPECT_FALSE(m.counter_add("inferences", -1e-12));
    EXPECT_EQ(m.snapshot().counters.at("inferences"), 3.5);

    // A rejected first add does not create the counter either.
    EXPECT_FALSE(m.counter_add("refunds", -2));
    EXPECT_EQ(m.snapshot().counters.count("refunds"), 0u);
}

TEST(PluginMetrics, GaugesTakeTheLatestValueEitherWay) {
    PluginMetrics m;
    EXPECT_TRUE(m.gauge_set("queue_depth", 7));
    EXPECT_TRUE(m.gauge_set("queue_depth", 2));
    EXPECT_EQ(m.snapshot().gauges.at("queue_depth"), 2.0);
    EXPECT_TRUE(m.gauge_set("queue_depth", -3.25));
    EXPECT_EQ(m.snapshot().gauges.at("queue_depth"), -3.25);
    EXPECT_TRUE(m.snapshot().counters.empty());
}

TEST(PluginMetrics, RejectsNonFiniteValues) {
    PluginMetrics m;
    ASSERT_TRUE(m.counter_add("c", 1));
    ASSERT_TRUE(m.gauge_set("g", 1));
    for (double bad : {kNan, kInf, -kInf}) {
        EXPECT_FALSE(m.counter_add("c", bad)) << bad;
        EXPECT_FALSE(m.counter_add("new_counter", bad)) << bad;
        EXPECT_FALSE(m.gauge_set("g", bad)) << bad;
        EXPECT_FALSE(m.gauge_set("new_gauge", bad)) << bad;
    }
    auto s = m.snapshot();
    EXPECT_EQ(s.counters, (std::map<std::string, double>{{"c", 1.0}}));
    EXPECT_EQ(s.gauges, (std::map<std::string, double>{{"g", 1.0}}));
}

TEST(PluginMetrics, BoundsTheNumberOfNames) {
    PluginMetrics m;
    // Fill the table with counters and gauges together: the bound is on both.
    for (std::size_t i = 0; i < PluginMetrics::kMaxNames; ++i) {
        const std::string name = "m" + std::to_string(i);
        ASSERT_TRUE(i % 2 == 0 ? m.counter_add(name, 1) : m.gauge_set(name, 1)) << name;
    }
    EXPECT_FALSE(m.counter_add("one_too_many", 1));
    EXPECT_FALSE(m.gauge_set("one_too_many", 1));

    // Names already known keep working at the limit.
    EXPECT_TRUE(m.counter_add("m0", 1));
    EXPECT_TRUE(m.gauge_set("m1", 5));

    auto s = m.snapshot();
    EXPECT_EQ(s.counters.size() + s.gauges.size(), PluginMetrics::kMaxNames);
    EXPECT_EQ(s.counters.at("m0"), 2.0);
    EXPECT_EQ(s.gauges.at("m1"), 5.0);
    EXPECT_EQ(s.counters.count("one_too_many") + s.gauges.count("one_too_many"), 0u);
}

TEST(PluginMetrics, SnapshotIsACopy) {
    PluginMetrics m;
    m.counter_add("c", 1);
    auto before = m.snapshot();
    m.counter_add("c", 1);
    m.gauge_set("g", 4);
    EXPECT_EQ(before.counters.at("c"), 1.0);
    EXPECT_TRUE(before.gauges.empty());
    EXPECT_EQ(m.snapshot().counters.at("c"), 2.0);
}

TEST(PluginMetrics, ToJsonHasCountersAndGaugesObjects) {
    PluginMetrics m;
    nlohmann::json empty = m.to_json();
    ASSERT_TRUE(empty.is_object());
    EXPECT_EQ(empty.size(), 2u);
    ASSERT_TRUE(empty.contains("counters"));
    ASSERT_TRUE(empty.contains("gauges"));
    EXPECT_TRUE(empty["counters"].is_object());
    EXPECT_TRUE(empty["gauges"].is_object());
    EXPECT_TRUE(empty["counters"].empty());
    EXPECT_TRUE(empty["gauges"].empty());

    m.counter_add("inferences", 3);
    m.counter_add("errors", 1);
    m.gauge_set("last_compute_ms", 12.5);
    EXPECT_EQ(m.to_json(), nlohmann::json::parse(R"({
        "counters": {"errors": 1.0, "inferences": 3.0},
        "gauges": {"last_compute_ms": 12.5}
    })"));
}

TEST(PluginMetrics, CountsEveryAddFromManyThreads) {
    PluginMetrics m;
    constexpr int kThreads = 4;
    constexpr int kAdds = 2000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&m, t] {
            for (int i = 0; i < kAdds; ++i) {
                m.counter_add("shared", 1);
                m.gauge_set("writer_" + std::to_string(t), i);
            }
        });
    for (auto &t : threads)
        t.join();
    auto s = m.snapshot();
    EXPECT_EQ(s.counters.at("shared"), double(kThreads * kAdds));
    ASSERT_EQ(s.gauges.size(), std::size_t(kThreads));
    for (const auto &[name, value] : s.gauges)
        EXPECT_EQ(value, double(kAdds - 1)) << name;
}

} // namespace
} // namespace tierd
