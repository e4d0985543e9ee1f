// The outbox with its spool on the writer thread, on real SQLite files: put() never waits
// for the disk (a lock held by another process, a file that cannot be opened yet), nothing
// put is lost (held in memory while the file is unusable, moved into it when it is),
// stop() and the destructor write everything put, and telemetry stays within the bound
// under when_full = "block" (issue 15, items 4, 5 and 9), in a file and in memory; with
// storage = "memory" entries are held and delivered without a file (issue 14).
#include "agent/spool/outbox.hpp"
#include "spool_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

using tierd::EntryClass;
using tierd::Outbox;
using tierd::Spool;
using tierd::SpoolOptions;
using tierd::SpoolWhenFull;
using tierd::spool_test::name_of;
using tierd::spool_test::options_for;
using tierd::spool_test::rows_on_disk;
using tierd::spool_test::run_until;
using tierd::spool_test::Store;
using tierd::spool_test::TempDir;
using tierd::spool_test::TestLoop;

SpoolOptions options_in(const TempDir &dir) {
    SpoolOptions o;
    o.path = (dir.path / "spool.db").string();
    return o;
}

Outbox::PublishFn offline() {
    return [](const std::string &, const std::string &, int *) { return 4; }; // NO_CONN
}

std::uint64_t counter(const Outbox &outbox, const char *name) {
    return outbox.status().value(name, std::uint64_t{0});
}

std::uint64_t dropped(const Outbox &outbox, const char *why) {
    return outbox.status()["dropped"].value(why, std::uint64_t{0});
}

// Another process holds the file: `exclusive` keeps even readers out
// (locking_mode=EXCLUSIVE); otherwise it holds the write lock (BEGIN IMMEDIATE).
struct OtherProcess {
    std::FILE *pipe = nullptr;
    std::string flag;
    OtherProcess(const std::string &path, bool exclusive) : flag(path + ".held") {
        const std::string cmd =
            std::string("/usr/bin/python3 -c 'import sqlite3, sys\n"
                        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n") +
            (exclusive ? "c.execute(\"PRAGMA locking_mode=EXCLUSIVE\")\n"
                         "c.execute(\"BEGIN EXCLUSIVE\")\n"
                         "c.execute(\"SELECT count(*) FROM spool\").fetchall()\n"
                       : "c.execute(\"BEGIN IMMEDIATE\")\n") +
            "open(sys.argv[1] + \".held\", \"w\").close()\n"
            "sys.stdin.read()' " +
            path;
        pipe = ::popen(cmd.c_str(), "w");
        for (int i = 0; i < 200 && !std::filesystem::exists(flag); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    bool holding() const { return std::filesystem::exists(flag); }
    void release() {
        if (pipe)
            ::pclose(pipe);
        pipe = nullptr;
    }
    ~OtherProcess() { release(); }
};

std::vector<std::string> payloads_on_disk(const std::string &path) {
    Spool spool([&] {
        SpoolOptions o;
        o.path = path;
        return o;
    }());
    std::vector<std::string> out;
    for (auto &e : spool.read_after(0, 100000))
        out.push_back(e.payload);
    return out;
}

TEST(OutboxWriter, PutDoesNotWaitForAnotherProcessesLockAndLosesNothing) {
    TempDir dir;
    auto o = options_in(dir);
    TestLoop l;
    Outbox outbox(&l.loop, std::make_unique<Spool>(o), 8, offline());
    OtherProcess writer(o.path, false);
    ASSERT_TRUE(writer.holding());
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i)
        outbox.put("t", "while-locked-" + std::to_string(i));
    const auto took = std::chrono::steady_clock::now() - start;
    // A put that waited would wait out the busy timeout (500 ms) at least once.
    EXPECT_LT(took, std::chrono::milliseconds(250)) << "put() waited for the disk";
    // The writer thread waits and retries; the loop goes on meanwhile.
    run_until(
        &l.loop, nullptr, [&] { return !outbox.status().value("failing", "").empty(); },
        std::chrono::seconds(3));
    writer.release();
    EXPECT_TRUE(run_until(&l.loop, nullptr, [&] { return counter(outbox, "stored") == 20; }))
        << outbox.status().dump();
    EXPECT_EQ(dropped(outbox, "write_failed"), 0u);
    outbox.stop();
}

TEST(OutboxWriter, HoldsEntriesInMemoryWhileTheFileIsLockedThenMovesThemIn) {
    TempDir dir;
    auto o = options_in(dir);
    {
        Spool before(o);
        for (int i = 0; i < 5; ++i)
            before.append("t", "before-" + std::to_string(i), 1000);
    }
    OtherProcess holder(o.path, true);
    ASSERT_TRUE(holder.holding());
    TestLoop l;
    Outbox outbox(&l.loop, o, 8, offline());
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return outbox.status().contains("error"); }))
        << outbox.status().dump();
    EXPECT_EQ(outbox.status()["storage"], "memory");
    for (int i = 0; i < 3; ++i)
        outbox.put("t", "meanwhile-" + std::to_string(i));
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return counter(outbox, "entries") == 3; }));
    holder.release();
    // Tried again after 1 s (then 2 s, 4 s...): the file is used again, what memory held
    // comes after the file's own entries.
    ASSERT_TRUE(run_until(
        &l.loop, nullptr,
        [&] { return !outbox.status().contains("error") && counter(outbox, "entries") == 8; },
        std::chrono::seconds(10)))
        << outbox.status().dump();
    EXPECT_EQ(outbox.status()["storage"], o.path);
    EXPECT_EQ(counter(outbox, "recovered"), 5u);
    bool stored = false;
    outbox.stop([&] { stored = true; });
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return stored; }));
    const auto on_disk = payloads_on_disk(o.path);
    const std::vector<std::string> expected = {"before-0",    "before-1",   "before-2",
                                               "before-3",    "before-4",   "meanwhile-0",
                                               "meanwhile-1", "meanwhile-2"};
    EXPECT_EQ(on_disk, expected);
    int aside = 0;
    for (const auto &e : std::filesystem::directory_iterator(dir.path))
        aside += e.path().filename().string().find(".corrupt-") != std::string::npos;
    EXPECT_EQ(aside, 0);
}

TEST(OutboxWriter, StopStoresEverythingPutBeforeItAndTheDestructorTheRest) {
    TempDir dir;
    auto o = options_in(dir);
    o.sync = tierd::SpoolSync::full;
    {
        TestLoop l;
        Outbox outbox(&l.loop, o, 8, offline());
        for (int i = 0; i < 2000; ++i)
            outbox.put("t/results", std::string(500, 'r'));
        bool stored = false;
        outbox.stop([&] { stored = true; });
        ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return stored; }));
        EXPECT_EQ(rows_on_disk(o.path), 2000);
        // Results that finish during the drain are still stored.
        for (int i = 0; i < 10; ++i)
            outbox.put("t/results", "during-the-drain");
        EXPECT_TRUE(outbox.flush(std::chrono::seconds(5)));
        EXPECT_EQ(rows_on_disk(o.path), 2010);
        outbox.put("t/results", "last");
    }
    EXPECT_EQ(rows_on_disk(o.path), 2011);
}

TEST(OutboxWriter, TheLoopEndsOnlyOnceWhatWasPutBeforeStopIsStored) {
    TempDir dir;
    auto o = options_in(dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        Outbox outbox(&loop, o, 8, offline());
        for (int i = 0; i < 500; ++i)
            outbox.put("t/results", std::string(500, 'r'));
        bool stored = false;
        outbox.stop([&] { stored = true; });
        // No other handle: the outbox alone keeps the loop running until then.
        uv_run(&loop, UV_RUN_DEFAULT);
        EXPECT_TRUE(stored);
        EXPECT_EQ(rows_on_disk(o.path), 500);
    }
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

// A broker that is away until come_online(), then takes every publish.
struct AwayBroker {
    bool online = false;
    int next_mid = 1;
    std::vector<std::pair<int, std::string>> published; // (mid, payload), not acknowledged
    Outbox::PublishFn fn() {
        return [this](const std::string &, const std::string &payload, int *mid) {
            if (!online)
                return 4; // MOSQ_ERR_NO_CONN
            *mid = next_mid++;
            published.emplace_back(*mid, payload);
            return 0;
        };
    }
};

// What the outbox's store holds, oldest first, as the broker would get it. A file is read
// after stop() from disk; memory is delivered: the broker comes online and acknowledges
// each entry until none is left.
std::vector<std::string> held_payloads(Store store, const SpoolOptions &o, Outbox &outbox,
                                       TestLoop &l, AwayBroker &broker) {
    if (store == Store::file) {
        outbox.stop();
        return payloads_on_disk(o.path);
    }
    std::vector<std::string> out;
    broker.online = true;
    outbox.connected();
    const bool drained = run_until(&l.loop, nullptr, [&] {
        for (const auto &[mid, payload] : broker.published) {
            out.push_back(payload);
            outbox.acknowledged(mid, 0);
        }
        broker.published.clear();
        return counter(outbox, "entries") == 0 && counter(outbox, "queued") == 0;
    });
    EXPECT_TRUE(drained) << outbox.status().dump();
    outbox.stop();
    return out;
}

class OutboxBound : public ::testing::TestWithParam<Store> {};

TEST_P(OutboxBound, TelemetryStaysWithinTheBoundUnderBlock) {
    TempDir dir;
    auto o = options_for(GetParam(), dir);
    o.max_bytes = 1 << 16;
    o.when_full = SpoolWhenFull::block;
    TestLoop l;
    AwayBroker broker;
    Outbox outbox(&l.loop, o, 8, broker.fn());
    for (int i = 0; i < 10; ++i)
        outbox.put("t/telemetry", std::string(999, 't'), EntryClass::telemetry);
    int results = 0;
    for (; outbox.has_room() && results < 1000; ++results)
        outbox.put("t/results", std::string(999, 'r'));
    ASSERT_FALSE(outbox.has_room());
    // A long outage: telemetry keeps coming, the source is stopped.
    for (int i = 0; i < 200; ++i)
        outbox.put("t/telemetry", std::string(999, 'T'), EntryClass::telemetry);
    // A result of a task that was already running is still stored beyond the bound.
    outbox.put("t/results", std::string(999, 'R'));
    ASSERT_TRUE(outbox.flush(std::chrono::seconds(5)));
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return counter(outbox, "queued") == 0; }));
    const auto s = outbox.status();
    // Beyond the bound only by the results stored beyond it (tasks already running).
    EXPECT_LE(s["bytes"].get<std::uint64_t>(), static_cast<std::uint64_t>(o.max_bytes) +
                                                   s["over_bound"].get<std::uint64_t>() * 1010);
    EXPECT_GE(s["dropped"]["telemetry"].get<std::uint64_t>(), 200u);
    EXPECT_EQ(s["dropped"]["oldest"], 0);
    EXPECT_EQ(s["dropped"]["newest"], 0);
    // Every result is kept.
    int results_kept = 0, telemetry_kept = 0;
    for (const auto &p : held_payloads(GetParam(), o, outbox, l, broker))
        (p[0] == 'r' || p[0] == 'R' ? results_kept : telemetry_kept)++;
    EXPECT_EQ(results_kept, results + 1);
    EXPECT_EQ(telemetry_kept + s["dropped"]["telemetry"].get<int>(), 210);
}

TEST_P(OutboxBound, TelemetryMakesWayForTheLatestSampleUnderBlock) {
    TempDir dir;
    auto o = options_for(GetParam(), dir);
    o.max_bytes = 1 << 16;
    o.when_full = SpoolWhenFull::block;
    TestLoop l;
    AwayBroker broker;
    Outbox outbox(&l.loop, o, 8, broker.fn());
    int n = 0;
    for (; outbox.has_room() && n < 1000; ++n)
        outbox.put("t/telemetry", "sample-" + std::to_string(n) + std::string(990, 't'),
                   EntryClass::telemetry);
    outbox.put("t/telemetry", "latest" + std::string(993, 't'), EntryClass::telemetry);
    ASSERT_TRUE(outbox.flush(std::chrono::seconds(5)));
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return counter(outbox, "queued") == 0; }));
    EXPECT_LE(outbox.status()["bytes"].get<std::int64_t>(), o.max_bytes);
    EXPECT_GE(dropped(outbox, "telemetry"), 1u);
    const auto held = held_payloads(GetParam(), o, outbox, l, broker);
    ASSERT_FALSE(held.empty());
    EXPECT_EQ(held.back().substr(0, 6), "latest");
    EXPECT_NE(held.front().substr(0, 9), "sample-0t") << "the oldest sample was kept";
}

INSTANTIATE_TEST_SUITE_P(OutboxWriter, OutboxBound, ::testing::Values(Store::file, Store::memory),
                         [](const auto &p) { return std::string(name_of(p.param)); });

TEST(OutboxWriter, StorageMemoryHoldsEntriesWithoutAFileAndDeletesThemWhenAcknowledged) {
    TempDir dir;
    const auto o = options_for(Store::memory, dir);
    TestLoop l;
    AwayBroker broker;
    Outbox outbox(&l.loop, o, 8, broker.fn());
    for (int i = 0; i < 100; ++i)
        ASSERT_TRUE(outbox.put("t/results", "result-" + std::to_string(i)));
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return counter(outbox, "entries") == 100; }))
        << outbox.status().dump();
    EXPECT_EQ(outbox.status()["storage"], "memory");
    EXPECT_FALSE(outbox.status().contains("error"));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path));
    const auto held = held_payloads(Store::memory, o, outbox, l, broker);
    ASSERT_EQ(held.size(), 100u);
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(held[static_cast<std::size_t>(i)], "result-" + std::to_string(i));
    const auto s = outbox.status();
    EXPECT_EQ(s["stored"], 100);
    EXPECT_EQ(s["delivered"], 100);
    EXPECT_EQ(s["bytes"], 0);
    EXPECT_EQ(s["dropped"]["write_failed"], 0);
}

} // namespace
