#include "hal/board.hpp"
#include "hal/cpu.hpp"
#include "hal/hwmon.hpp"
#include "hal/memory.hpp"
#include "hal/profile.hpp"
#include "hal/thermal.hpp"
#include "tests/hal/fake_tree.hpp"

#include <gtest/gtest.h>

namespace tierd::hal {
namespace {

TEST(HalParse, MeminfoIsParsedToBytes) {
    test::FakeTree t;
    t.write("/proc/meminfo", "MemTotal:        1000 kB\nMemFree:          200 kB\n"
                             "MemAvailable:     600 kB\nBuffers:          10 kB\n");
    const auto m = read_memory(FsRoot(t.root()));
    EXPECT_EQ(m.total_bytes, 1000u * 1024);
    EXPECT_EQ(m.free_bytes, 200u * 1024);
    EXPECT_EQ(m.available_bytes, 600u * 1024);
}

TEST(HalParse, CpuinfoModelNameAndDeviceTreeModel) {
    test::FakeTree t;
    t.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) E-2278G\n\n"
                             "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) E-2278G\n");
    t.write("/proc/device-tree/model", std::string("Raspberry Pi 3 Model B Plus Rev 1.3\0", 36));
    const auto b = read_board(FsRoot(t.root()));
    EXPECT_EQ(b.cpu_model, "Intel(R) Xeon(R) E-2278G");
    EXPECT_EQ(b.model, "Raspberry Pi 3 Model B Plus Rev 1.3");
}

TEST(HalParse, CpuinfoFallsBackToHardwareLine) {
    test::FakeTree t;
    t.write("/proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 38.40\nHardware\t: BCM2835\n");
    EXPECT_EQ(read_board(FsRoot(t.root())).cpu_model, "BCM2835");
}

TEST(HalParse, ThermalZonesInCelsius) {
    test::FakeTree t;
    t.write("/sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
    t.write("/sys/class/thermal/thermal_zone0/temp", "45500\n");
    t.write("/sys/class/thermal/thermal_zone1/type", "acpitz\n"); // no temp: skipped
    t.write("/sys/class/thermal/cooling_device0/type", "Fan\n");  // not a zone
    const auto zones = read_thermal(FsRoot(t.root()));
    ASSERT_EQ(zones.size(), 1u);
    EXPECT_EQ(zones[0].type, "x86_pkg_temp");
    EXPECT_DOUBLE_EQ(zones[0].temp_c, 45.5);
}

TEST(HalParse, CpuLoadAndFrequencyFromProcStat) {
    test::FakeTree t;
    t.write("/proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n"
                          "cpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n");
    t.write("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "1400000\n");
    FsRoot fs(t.root());
    CpuMonitor mon;
    auto first = mon.sample(fs);
    EXPECT_EQ(first.cores, 2u);
    EXPECT_FALSE(first.load.has_value()); // no delta yet
    ASSERT_EQ(first.freq_mhz.size(), 2u);
    EXPECT_DOUBLE_EQ(first.freq_mhz[0], 1400.0);
    EXPECT_DOUBLE_EQ(first.freq_mhz[1], 0.0); // no cpufreq for cpu1
    // +300 busy jiffies, +100 idle jiffies -> 75% load.
    t.write("/proc/stat", "cpu  250 0 250 900 0 0 0 0 0 0\n");
    auto second = mon.sample(fs);
    ASSERT_TRUE(second.load.has_value());
    EXPECT_DOUBLE_EQ(*second.load, 0.75);
}

TEST(HalParse, Ina3221RailsGivePower) {
    test::FakeTree t;
    const std::string d = "/sys/class/hwmon/hwmon1/";
    t.write(d + "name", "ina3221\n");
    t.write(d + "in1_label", "VDD_IN\n");
    t.write(d + "in1_input", "5000\n");   // mV
    t.write(d + "curr1_input", "1000\n"); // mA
    t.write(d + "in2_label", "VDD_SYS_GPU\n");
    t.write(d + "in2_input", "5000\n");
    t.write(d + "curr2_input", "200\n");
    const auto devs = read_hwmon(FsRoot(t.root()));
    ASSERT_EQ(devs.size(), 1u);
    ASSERT_EQ(devs[0].rails.size(), 2u);
    EXPECT_EQ(devs[0].rails[1].label, "VDD_SYS_GPU");
    EXPECT_DOUBLE_EQ(devs[0].rails[1].power_w, 1.0);
    ASSERT_TRUE(devs[0].power_w.has_value());
    EXPECT_DOUBLE_EQ(*devs[0].power_w, 5.0); // VDD_IN is the whole module
}

TEST(HalParse, ShippedProfilesLoad) {
    for (const char *name : {"raspberry-pi-3b-plus", "jetson-tx2", "x86-edge-server"}) {
        const auto p = load_profile(name, {TIERD_PROFILE_DIR});
        EXPECT_EQ(p.name, name);
        EXPECT_GT(p.active_power_w, p.idle_power_w);
        EXPECT_GT(p.relative_compute, 0);
    }
    EXPECT_THROW(load_profile("no-such-board", {TIERD_PROFILE_DIR}), std::runtime_error);
}

} // namespace
} // namespace tierd::hal
