// The outbox's decisions on a real spool file (and, for the refusals, on the memory store
// too), with the broker's answers given as the agent's MQTT link gives them
// (acknowledged(mid, reason)): which refusals are retried and which dropped, the source
// released when a failed delete is retried, and entries' ages across a restart whose clock
// was not set (issue 15, item 7).
#include "agent/spool/outbox.hpp"
#include "spool_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using tierd::Outbox;
using tierd::Spool;
using tierd::SpoolOptions;
using tierd::SpoolWhenFull;
using tierd::spool_test::name_of;
using tierd::spool_test::open_store;
using tierd::spool_test::run_until;
using tierd::spool_test::Store;
using tierd::spool_test::TempDir;
using tierd::spool_test::TestLoop;

// What the broker was handed: every publish, with the message id it got.
struct Published {
    std::string topic, payload;
    int mid;
};

struct Recorder {
    std::vector<Published> published;
    int next_mid = 1;
    Outbox::PublishFn fn() {
        return [this](const std::string &topic, const std::string &payload, int *mid) {
            *mid = next_mid++;
            published.push_back({topic, payload, *mid});
            return 0;
        };
    }
};

SpoolOptions options_in(const TempDir &dir) {
    SpoolOptions o;
    o.path = (dir.path / "spool.db").string();
    return o;
}

std::uint64_t dropped(const Outbox &outbox, const char *why) {
    return outbox.status()["dropped"].value(why, std::uint64_t{0});
}

std::uint64_t counter(const Outbox &outbox, const char *name) {
    return outbox.status().value(name, std::uint64_t{0});
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A PUBACK reason code, and the store the outbox spools to.
using Refusal = std::tuple<int, Store>;
std::string refusal_name(const ::testing::TestParamInfo<Refusal> &p) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02x", std::get<0>(p.param));
    return std::string(name_of(std::get<1>(p.param))) + "_" + code;
}

class TransientRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(TransientRefusal, IsSentAgainLaterNotDropped) {
    const auto [reason, store] = GetParam();
    TempDir dir;
    TestLoop l;
    Recorder broker;
    Outbox outbox(&l.loop, open_store(store, dir), 4, broker.fn());
    outbox.connected();
    outbox.put("t/results", "first");
    outbox.put("t/results", "second");
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return broker.published.size() >= 2; }));
    outbox.acknowledged(broker.published[0].mid, reason);
    outbox.acknowledged(broker.published[1].mid, 0);
    // Sent again after a pause (the broker may accept it then), not deleted as refused.
    ASSERT_TRUE(run_until(
        &l.loop, nullptr, [&] { return broker.published.size() >= 3; }, std::chrono::seconds(5)))
        << "an entry refused with 0x" << std::hex << reason << " was never sent again";
    EXPECT_EQ(broker.published[2].payload, "first");
    EXPECT_EQ(dropped(outbox, "rejected"), 0u);
    outbox.acknowledged(broker.published[2].mid, 0);
    EXPECT_TRUE(run_until(&l.loop, nullptr, [&] { return counter(outbox, "delivered") == 2; }));
    EXPECT_EQ(outbox.status()["entries"], 0);
    outbox.stop();
}

// 0x80 unspecified error, 0x83 implementation specific error, 0x97 quota exceeded.
INSTANTIATE_TEST_SUITE_P(Outbox, TransientRefusal,
                         ::testing::Combine(::testing::Values(0x80, 0x83, 0x97),
                                            ::testing::Values(Store::file, Store::memory)),
                         refusal_name);

class PermanentRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(PermanentRefusal, IsDroppedCountedAndTheNextEntryGoesOn) {
    const auto [reason, store] = GetParam();
    TempDir dir;
    TestLoop l;
    Recorder broker;
    Outbox outbox(&l.loop, open_store(store, dir), 1, broker.fn());
    outbox.connected();
    outbox.put("t/results", "refused");
    outbox.put("t/results", "next");
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return broker.published.size() >= 1; }));
    outbox.acknowledged(broker.published[0].mid, reason);
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return broker.published.size() >= 2; }));
    EXPECT_EQ(broker.published[1].payload, "next");
    EXPECT_TRUE(run_until(&l.loop, nullptr, [&] { return dropped(outbox, "rejected") == 1; }));
    EXPECT_EQ(outbox.status()["entries"], 1);
    outbox.stop();
}

// 0x87 not authorized, 0x90 topic name invalid, 0x95 packet too large, 0x99 payload
// format invalid.
INSTANTIATE_TEST_SUITE_P(Outbox, PermanentRefusal,
                         ::testing::Combine(::testing::Values(0x87, 0x90, 0x95, 0x99),
                                            ::testing::Values(Store::file, Store::memory)),
                         refusal_name);

// Another process holds the spool's write lock (BEGIN IMMEDIATE in WAL mode: readers go
// on, writers wait) until its stdin closes.
struct WriteLock {
    std::FILE *pipe = nullptr;
    std::string flag;
    explicit WriteLock(const std::string &path) : flag(path + ".writing") {
        const std::string cmd = "/usr/bin/python3 -c 'import sqlite3, sys\n"
                                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                                "c.execute(\"BEGIN IMMEDIATE\")\n"
                                "open(sys.argv[1] + \".writing\", \"w\").close()\n"
                                "sys.stdin.read()' " +
                                path;
        pipe = ::popen(cmd.c_str(), "w");
        for (int i = 0; i < 200 && !std::filesystem::exists(flag); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    void release() {
        if (pipe)
            ::pclose(pipe);
        pipe = nullptr;
    }
    ~WriteLock() { release(); }
};

TEST(Outbox, ABlockedSourceResumesWhenAFailedDeleteIsRetried) {
    TempDir dir;
    TestLoop l;
    Recorder broker;
    auto o = options_in(dir);
    o.max_bytes = 1 << 16;
    o.when_full = SpoolWhenFull::block;
    Outbox outbox(&l.loop, std::make_unique<Spool>(o), 8, broker.fn());
    int room_calls = 0;
    outbox.on_room = [&] { ++room_calls; };
    int n = 0;
    for (; outbox.has_room() && n < 1000; ++n)
        outbox.put("t", std::string(999, 'r'));
    ASSERT_FALSE(outbox.has_room());
    outbox.connected();
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return broker.published.size() >= 8; }));
    {
        // The deletes of the acknowledged entries fail while another process writes.
        WriteLock lock(o.path);
        ASSERT_TRUE(std::filesystem::exists(lock.flag));
        for (std::size_t i = 0; i < 8; ++i)
            outbox.acknowledged(broker.published[i].mid, 0);
        // The acknowledged entries are not deleted yet: still no room.
        ASSERT_TRUE(run_until(&l.loop, nullptr, [&] {
            return counter(outbox, "acked_not_deleted") == 8;
        })) << outbox.status().dump();
        EXPECT_EQ(room_calls, 0);
    }
    // The lock is gone: the deletes are retried, room frees up and the source is told.
    EXPECT_TRUE(run_until(
        &l.loop, nullptr, [&] { return room_calls > 0; }, std::chrono::seconds(5)))
        << "room freed by a retried delete, but on_room was never called";
    EXPECT_TRUE(outbox.has_room());
    EXPECT_EQ(counter(outbox, "delivered"), 8u);
    outbox.stop();
}

TEST(Outbox, EntriesFromARunWithoutAClockAreNotExpiredAtStart) {
    TempDir dir;
    auto o = options_in(dir);
    o.max_age_ms = 3600 * 1000;
    const auto now = now_ms();
    {
        Spool before(o);
        // Stored by a run that started before the clock was set (1970), one that stored
        // a time in the future, and one really two hours old.
        before.append("t", "unset-clock", 5000);
        before.append("t", "future", now + 86400 * 1000);
        before.append("t", "two-hours-old", now - 2 * 3600 * 1000);
    }
    TestLoop l;
    Recorder broker;
    Outbox outbox(&l.loop, std::make_unique<Spool>(o), 4, broker.fn());
    // Expiry runs once a second; the one really old entry goes.
    ASSERT_TRUE(run_until(
        &l.loop, nullptr, [&] { return dropped(outbox, "expired") >= 1; },
        std::chrono::seconds(5)));
    EXPECT_EQ(dropped(outbox, "expired"), 1u);
    EXPECT_EQ(outbox.status()["entries"], 2);
    outbox.connected();
    ASSERT_TRUE(run_until(&l.loop, nullptr, [&] { return broker.published.size() >= 2; }));
    EXPECT_EQ(broker.published[0].payload, "unset-clock");
    EXPECT_EQ(broker.published[1].payload, "future");
    outbox.stop();
}

} // namespace
