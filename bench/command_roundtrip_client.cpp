// Measures command round trips to a running tierd over a real broker: sends `ping`
// with an MQTT 5 response topic and correlation data, waits for the reply, repeats.
// Usage: command_roundtrip_client HOST PORT DEVICE_ID COUNT  (prints JSON latencies)
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool connected = false;
    std::string awaited; // correlation data of the request in flight
    bool answered = false;
};

void on_connect(mosquitto *, void *obj, int rc, int, const mosquitto_property *) {
    auto *s = static_cast<State *>(obj);
    std::lock_guard<std::mutex> lock(s->mu);
    s->connected = rc == 0;
    s->cv.notify_all();
}

void on_message(mosquitto *, void *obj, const mosquitto_message *,
                const mosquitto_property *props) {
    auto *s = static_cast<State *>(obj);
    void *data = nullptr;
    uint16_t len = 0;
    if (!mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false))
        return;
    std::string correlation(static_cast<char *>(data), len);
    free(data);
    std::lock_guard<std::mutex> lock(s->mu);
    if (correlation == s->awaited) {
        s->answered = true;
        s->cv.notify_all();
    }
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s HOST PORT DEVICE_ID COUNT\n", argv[0]);
        return 2;
    }
    const std::string host = argv[1], device = argv[3];
    const int port = std::atoi(argv[2]), count = std::atoi(argv[4]);
    mosquitto_lib_init();
    State state;
    mosquitto *m = mosquitto_new("bench-console", true, &state);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1); // small packets: no Nagle delay
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_message_v5_callback_set(m, on_message);
    if (mosquitto_connect(m, host.c_str(), port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m)) {
        std::fprintf(stderr, "cannot connect to %s:%d\n", host.c_str(), port);
        return 1;
    }
    const std::string reply_topic = "bench/replies", cmd_topic = "tierd/v1/dev/" + device + "/cmd";
    {
        std::unique_lock<std::mutex> lock(state.mu);
        state.cv.wait_for(lock, std::chrono::seconds(5), [&] { return state.connected; });
    }
    mosquitto_subscribe_v5(m, nullptr, reply_topic.c_str(), 1, 0, nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // SUBACK

    std::vector<double> latencies_us;
    const std::string payload = R"({"op":"ping"})";
    int lost = 0;
    for (int i = 0; i < count; ++i) {
        mosquitto_property *props = nullptr;
        std::string correlation = "req-" + std::to_string(i);
        mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply_topic.c_str());
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation.data(),
                                      static_cast<uint16_t>(correlation.size()));
        {
            std::lock_guard<std::mutex> lock(state.mu);
            state.awaited = correlation;
            state.answered = false;
        }
        auto start = std::chrono::steady_clock::now();
        mosquitto_publish_v5(m, nullptr, cmd_topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, false, props);
        mosquitto_property_free_all(&props);
        std::unique_lock<std::mutex> lock(state.mu);
        if (!state.cv.wait_for(lock, std::chrono::seconds(2), [&] { return state.answered; })) {
            ++lost;
            continue;
        }
        latencies_us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count());
    }
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double p) {
        return latencies_us.empty()
                   ? 0.0
                   : latencies_us[static_cast<size_t>(p * (latencies_us.size() - 1))];
    };
    std::printf("{\"count\": %d, \"answered\": %zu, \"lost\": %d, \"p50_us\": %.1f, "
                "\"p90_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}\n",
                count, latencies_us.size(), lost, pct(0.5), pct(0.9), pct(0.99), pct(1.0));
    return lost == 0 ? 0 : 1;
}
