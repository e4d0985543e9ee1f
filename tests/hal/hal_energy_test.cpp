#include "hal/energy.hpp"
#include "hal/rapl.hpp"
#include "tests/hal/fake_tree.hpp"

#include <gtest/gtest.h>

namespace tierd::hal {
namespace {

using namespace std::chrono_literals;
constexpr const char *kNoNvml = "libtierd-no-such-nvml.so.0";

TEST(HalEnergy, RaplCounterWrapIsHandled) {
    // Counter near the top of its range, then wrapped past zero.
    EXPECT_EQ(rapl_delta_uj(999'000, 1'000, 1'000'000), 2'000u);
    EXPECT_EQ(rapl_delta_uj(100, 300, 1'000'000), 200u);

    test::FakeTree t;
    const std::string z = "/sys/class/powercap/intel-rapl:0/";
    t.write(z + "name", "package-0\n");
    t.write(z + "max_energy_range_uj", "262143328850\n");
    t.write(z + "energy_uj", "262143000000\n");
    // Subzone: already counted in the package, must not be added again.
    t.write("/sys/class/powercap/intel-rapl:0:0/name", "core\n");
    t.write("/sys/class/powercap/intel-rapl:0:0/energy_uj", "5\n");
    FsRoot fs(t.root());
    Nvml nvml(kNoNvml);
    const auto t0 = EnergyMeter::Clock::time_point{};
    EnergyMeter meter(fs, generic_profile(), nvml, t0);
    t.write(z + "energy_uj", "1671150\n"); // wrapped: 328850 + 1671150 = 2 J
    const auto r = meter.read(fs, nvml, 0.0, t0 + 1s);
    EXPECT_EQ(r.source, "measured:rapl:package-0");
    EXPECT_NEAR(r.energy_j, 2.0, 1e-9);
    EXPECT_NEAR(r.power_w, 2.0, 1e-9);
}

TEST(HalEnergy, MissingSensorsFallBackToProfileEstimate) {
    test::FakeTree t; // no powercap, no hwmon, no NVML
    FsRoot fs(t.root());
    Nvml nvml(kNoNvml);
    DeviceProfile p{"test-board", "", 2.0, 6.0, 0.1, 10.0};
    const auto t0 = EnergyMeter::Clock::time_point{};
    EnergyMeter meter(fs, p, nvml, t0);
    EXPECT_FALSE(meter.measured());
    auto r = meter.read(fs, nvml, 0.5, t0 + 2s); // 2 W + 4 W * 0.5 = 4 W for 2 s
    EXPECT_EQ(r.source, "estimated:test-board");
    EXPECT_DOUBLE_EQ(r.power_w, 4.0);
    EXPECT_DOUBLE_EQ(r.energy_j, 8.0);
    r = meter.read(fs, nvml, 0.0, t0 + 3s); // idle for 1 s adds 2 J
    EXPECT_DOUBLE_EQ(r.energy_j, 10.0);
}

TEST(HalEnergy, HwmonEnergyCounterIsMeasured) {
    test::FakeTree t;
    t.write("/sys/class/hwmon/hwmon0/name", "amd_energy\n");
    t.write("/sys/class/hwmon/hwmon0/energy1_input", "1000000\n"); // uJ
    FsRoot fs(t.root());
    Nvml nvml(kNoNvml);
    const auto t0 = EnergyMeter::Clock::time_point{};
    EnergyMeter meter(fs, generic_profile(), nvml, t0);
    t.write("/sys/class/hwmon/hwmon0/energy1_input", "4000000\n");
    const auto r = meter.read(fs, nvml, 0.0, t0 + 1s);
    EXPECT_EQ(r.source, "measured:hwmon:amd_energy");
    EXPECT_DOUBLE_EQ(r.energy_j, 3.0);
}

} // namespace
} // namespace tierd::hal
