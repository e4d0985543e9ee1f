// A fleet console's view of the control plane: sends `ping` to one tierd every
// INTERVAL_MS (open loop: on a fixed schedule, whether or not earlier pings were answered)
// for DURATION_S seconds, each with an MQTT 5 response topic and its own correlation data,
// and times each request to its reply. Prints one JSON object:
//   {"sent", "answered", "lost", "p50_ms", "p99_ms", "max_ms", "interval_ms"}
// A ping not answered within 5 s of its send is lost. Percentiles are nearest-rank over
// the answered pings.
//
// Usage: ping_console HOST PORT DEVICE_ID DURATION_S INTERVAL_MS
//
// Threads: libmosquitto's network thread (mosquitto_loop_start) runs the callbacks; the
// main thread sends on the schedule. Both touch State under its mutex only.
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool connected = false;
    bool subscribed = false;
    std::map<std::string, Clock::time_point> outstanding; // correlation -> send time
    std::vector<double> rtt_ms;
};

void on_connect(mosquitto *, void *obj, int rc, int, const mosquitto_property *) {
    auto *s = static_cast<State *>(obj);
    std::lock_guard<std::mutex> lock(s->mu);
    s->connected = rc == 0;
    s->cv.notify_all();
}

void on_subscribe(mosquitto *, void *obj, int, int, const int *, const mosquitto_property *) {
    auto *s = static_cast<State *>(obj);
    std::lock_guard<std::mutex> lock(s->mu);
    s->subscribed = true;
    s->cv.notify_all();
}

void on_message(mosquitto *, void *obj, const mosquitto_message *,
                const mosquitto_property *props) {
    const auto now = Clock::now();
    auto *s = static_cast<State *>(obj);
    void *data = nullptr;
    uint16_t len = 0;
    if (!mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false))
        return;
    std::string correlation(static_cast<char *>(data), len);
    free(data);
    std::lock_guard<std::mutex> lock(s->mu);
    auto it = s->outstanding.find(correlation);
    if (it == s->outstanding.end())
        return; // a reply to a ping already counted lost
    s->rtt_ms.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    s->outstanding.erase(it);
    s->cv.notify_all();
}

double nearest_rank(const std::vector<double> &sorted, double fraction) {
    if (sorted.empty())
        return 0.0;
    auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s HOST PORT DEVICE_ID DURATION_S INTERVAL_MS\n", argv[0]);
        return 2;
    }
    const std::string host = argv[1], device = argv[3];
    const int port = std::atoi(argv[2]);
    const double duration_s = std::atof(argv[4]);
    const int interval_ms = std::atoi(argv[5]);
    mosquitto_lib_init();
    State state;
    const std::string client_id = "bench-console-" + std::to_string(getpid());
    mosquitto *m = mosquitto_new(client_id.c_str(), true, &state);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1); // small packets: no Nagle delay
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_message_v5_callback_set(m, on_message);
    if (mosquitto_connect(m, host.c_str(), port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
        std::fprintf(stderr, "cannot connect to %s:%d\n", host.c_str(), port);
        return 1;
    }
    const std::string reply_topic = "bench/console/" + client_id,
                      cmd_topic = "tierd/v1/dev/" + device + "/cmd";
    {
        std::unique_lock<std::mutex> lock(state.mu);
        if (!state.cv.wait_for(lock, std::chrono::seconds(5), [&] { return state.connected; })) {
            std::fprintf(stderr, "no CONNACK from %s:%d\n", host.c_str(), port);
            return 1;
        }
    }
    mosquitto_subscribe_v5(m, nullptr, reply_topic.c_str(), 1, 0, nullptr);
    {
        std::unique_lock<std::mutex> lock(state.mu);
        if (!state.cv.wait_for(lock, std::chrono::seconds(5), [&] { return state.subscribed; })) {
            std::fprintf(stderr, "no SUBACK for %s\n", reply_topic.c_str());
            return 1;
        }
    }

    const std::string payload = R"({"op":"ping"})";
    const auto start = Clock::now();
    const auto period = std::chrono::milliseconds(interval_ms);
    const auto count = static_cast<long>(duration_s * 1000.0 / interval_ms);
    for (long i = 0; i < count; ++i) {
        std::this_thread::sleep_until(start + i * period);
        mosquitto_property *props = nullptr;
        const std::string correlation = "ping-" + std::to_string(i);
        mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply_topic.c_str());
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation.data(),
                                      static_cast<uint16_t>(correlation.size()));
        {
            std::lock_guard<std::mutex> lock(state.mu);
            state.outstanding[correlation] = Clock::now();
        }
        mosquitto_publish_v5(m, nullptr, cmd_topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, false, props);
        mosquitto_property_free_all(&props);
    }
    {
        std::unique_lock<std::mutex> lock(state.mu);
        state.cv.wait_for(lock, std::chrono::seconds(5), [&] { return state.outstanding.empty(); });
    }
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    std::lock_guard<std::mutex> lock(state.mu);
    std::vector<double> rtt = state.rtt_ms;
    std::sort(rtt.begin(), rtt.end());
    std::printf("{\"sent\": %ld, \"answered\": %zu, \"lost\": %zu, \"interval_ms\": %d, "
                "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
                count, rtt.size(), state.outstanding.size(), interval_ms, nearest_rank(rtt, 0.5),
                nearest_rank(rtt, 0.99), rtt.empty() ? 0.0 : rtt.back());
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
