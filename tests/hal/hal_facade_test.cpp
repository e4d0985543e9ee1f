#include "hal/hal.hpp"
#include "tests/hal/fake_tree.hpp"

#include <gtest/gtest.h>
#include <thread>

namespace tierd::hal {
namespace {

TEST(HalFacade, AbsentNvmlGivesNoGpus) {
    test::FakeTree t;
    Hal hal({t.root(), "", {}, "libtierd-no-such-nvml.so.0"});
    const auto gpu = hal.snapshot_json("gpu");
    ASSERT_TRUE(gpu.is_array());
    EXPECT_TRUE(gpu.empty());
}

TEST(HalFacade, UnknownSectionThrows) {
    test::FakeTree t;
    Hal hal({t.root(), "", {}, "libtierd-no-such-nvml.so.0"});
    EXPECT_THROW(hal.snapshot_json("bogus"), std::invalid_argument);
}

TEST(HalFacade, FakeTreeEstimateUsesNamedProfile) {
    test::FakeTree t;
    t.write("/proc/meminfo", "MemTotal: 1024 kB\nMemAvailable: 512 kB\n");
    Hal hal({t.root(), "raspberry-pi-3b-plus", {TIERD_PROFILE_DIR}, "libtierd-no-such-nvml.so.0"});
    const auto snap = hal.snapshot_json();
    EXPECT_EQ(snap["memory"]["total_bytes"], 1024u * 1024);
    EXPECT_EQ(snap["board"]["profile"], "raspberry-pi-3b-plus");
    EXPECT_FALSE(snap["power"]["measured"].get<bool>());
    EXPECT_EQ(hal.read_energy().source, "estimated:raspberry-pi-3b-plus");
}

TEST(HalFacade, RealRootSnapshotDoesNotThrow) {
    Hal hal(HalOptions{});
    nlohmann::json snap;
    EXPECT_NO_THROW(snap = hal.snapshot_json());
    for (const char *s : {"board", "cpu", "memory", "thermal", "power", "gpu"})
        EXPECT_TRUE(snap.contains(s)) << s;
    // Concurrent callers: the facade serialises them internally.
    std::thread other([&] { (void)hal.read_energy(); });
    const auto r = hal.read_energy();
    other.join();
    EXPECT_GE(r.energy_j, 0.0);
    EXPECT_FALSE(r.source.empty());
}

} // namespace
} // namespace tierd::hal
