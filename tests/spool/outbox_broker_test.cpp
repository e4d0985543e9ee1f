// The outbox delivering to a real mosquitto on loopback through a real libmosquitto
// client: an entry larger than the broker accepts does not stop delivery (issue 15,
// item 2), and no more than the window of entries is ever queued in the client, also
// across reconnects (issue 15, the control plane must not queue behind results).
#include "agent/spool/outbox.hpp"
#include "spool_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace {

using tierd::Outbox;
using tierd::Spool;
using tierd::SpoolOptions;
using tierd::spool_test::Broker;
using tierd::spool_test::Client;
using tierd::spool_test::payload_of;
using tierd::spool_test::run_until;
using tierd::spool_test::TempDir;
using tierd::spool_test::TestLoop;

SpoolOptions options_in(const TempDir &dir) {
    SpoolOptions o;
    o.path = (dir.path / "spool.db").string();
    return o;
}

std::uint64_t counter(const Outbox &outbox, const char *name) {
    return outbox.status().value(name, std::uint64_t{0});
}

Outbox::PublishFn publish_with(Client &client) {
    return [&client](const std::string &topic, const std::string &payload, int *mid) {
        return client.publish(topic, payload, mid);
    };
}

TEST(OutboxBroker, AnEntryLargerThanTheBrokerAcceptsIsDroppedAndDeliveryGoesOn) {
    Broker broker("max_packet_size 2000");
    ASSERT_TRUE(broker.start());
    TempDir dir;
    TestLoop l;
    Client client(broker.port());
    Outbox outbox(&l.loop, std::make_unique<Spool>(options_in(dir)), 4, publish_with(client));
    client.on_connected = [&](int) { outbox.connected(); };
    client.on_published = [&](int mid, int reason) { outbox.acknowledged(mid, reason); };
    outbox.put("t/results", payload_of("small-0", 500));
    outbox.put("t/telemetry", payload_of("too-large", 5000));
    for (int i = 1; i <= 3; ++i)
        outbox.put("t/results", payload_of("small-" + std::to_string(i), 500));
    ASSERT_TRUE(client.connect());
    EXPECT_TRUE(run_until(&l.loop, &client, [&] { return counter(outbox, "delivered") == 4; }))
        << "delivery stopped at the oversized entry: " << outbox.status().dump();
    EXPECT_EQ(outbox.status()["dropped"].value("oversize", 0), 1);
    EXPECT_EQ(outbox.status()["entries"], 0);
    outbox.stop();
}

TEST(OutboxBroker, AnEntryTheBrokerRefusesForGoodIsDroppedAndDeliveryGoesOn) {
    // message_size_limit: mosquitto answers PUBACK 0x95 (packet too large).
    Broker broker("message_size_limit 2000");
    ASSERT_TRUE(broker.start());
    TempDir dir;
    TestLoop l;
    Client client(broker.port());
    Outbox outbox(&l.loop, std::make_unique<Spool>(options_in(dir)), 4, publish_with(client));
    client.on_connected = [&](int) { outbox.connected(); };
    client.on_published = [&](int mid, int reason) { outbox.acknowledged(mid, reason); };
    outbox.put("t/results", payload_of("refused", 5000));
    outbox.put("t/results", payload_of("accepted", 500));
    ASSERT_TRUE(client.connect());
    EXPECT_TRUE(run_until(&l.loop, &client, [&] { return counter(outbox, "delivered") == 1; }));
    EXPECT_EQ(outbox.status()["dropped"]["rejected"], 1);
    EXPECT_EQ(outbox.status()["entries"], 0);
    outbox.stop();
}

TEST(OutboxBroker, NoMoreThanTheWindowIsQueuedInTheClientAcrossReconnects) {
    Broker broker;
    ASSERT_TRUE(broker.start());
    TempDir dir;
    TestLoop l;
    Client client(broker.port());
    const int window = 8;
    Outbox outbox(&l.loop, std::make_unique<Spool>(options_in(dir)), window, publish_with(client));
    bool freeze_on_connect = true;
    client.on_connected = [&](int) {
        // The first session's PUBACKs never come: the broker stops right after CONNACK.
        if (std::exchange(freeze_on_connect, false))
            broker.freeze();
        outbox.connected();
    };
    client.on_published = [&](int mid, int reason) { outbox.acknowledged(mid, reason); };
    for (int i = 0; i < 50; ++i)
        outbox.put("t/results", payload_of("r" + std::to_string(i), 300));
    std::size_t most = 0;
    auto watch = [&] {
        most = std::max(most, client.outstanding().size());
        return false;
    };
    ASSERT_TRUE(client.connect());
    ASSERT_TRUE(run_until(&l.loop, &client, [&] {
        watch();
        return client.outstanding().size() == window;
    }));
    // The broker goes away with the window unacknowledged; a new one takes its place.
    broker.kill();
    ASSERT_TRUE(broker.start());
    ASSERT_TRUE(run_until(&l.loop, &client, [&] { return !client.connected(); }));
    client.reconnect();
    EXPECT_TRUE(run_until(&l.loop, &client, [&] {
        watch();
        return counter(outbox, "delivered") == 50;
    })) << outbox.status().dump();
    // libmosquitto sends the first session's messages again by itself; the outbox counts
    // them against its window instead of adding a window of its own.
    EXPECT_LE(most, static_cast<std::size_t>(window));
    outbox.stop();
}

TEST(OutboxBroker, KeepsItsEntriesInFlightBelowTheBrokersReceiveMaximum) {
    // The broker takes 8 QoS 1 messages at once from a client; libmosquitto queues the
    // rest in order, so an agent's command reply would wait behind queued results.
    Broker broker("max_inflight_messages 8");
    ASSERT_TRUE(broker.start());
    TempDir dir;
    TestLoop l;
    Client client(broker.port());
    Outbox outbox(&l.loop, std::make_unique<Spool>(options_in(dir)), 32, publish_with(client));
    int receive_maximum = 0;
    client.on_connected = [&](int rm) {
        receive_maximum = rm;
        outbox.connected(rm);
    };
    client.on_published = [&](int mid, int reason) { outbox.acknowledged(mid, reason); };
    for (int i = 0; i < 300; ++i)
        outbox.put("t/results", payload_of("r" + std::to_string(i), 300));
    std::size_t most = 0;
    ASSERT_TRUE(client.connect());
    EXPECT_TRUE(run_until(&l.loop, &client, [&] {
        most = std::max(most, client.outstanding().size());
        return counter(outbox, "delivered") == 300;
    }));
    EXPECT_EQ(receive_maximum, 8);
    // A quarter of the quota (at least 2) stays free for the agent's own messages.
    EXPECT_EQ(outbox.window(), 6);
    EXPECT_LE(most, 6u);
    outbox.stop();
}

} // namespace
