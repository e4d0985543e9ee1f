// Keeps an edge tier busy with offload requests of one size: IN_FLIGHT image requests
// (docs/mqtt.md "Offload": TDI1, header JSON, bgr8 pixels) of WIDTH x HEIGHT BGR frames
// are outstanding at all times on tierd/v1/offload/edge/req, each with an MQTT 5 response
// topic and its task id as correlation data; every reply sends the next. With more
// requests waiting than the edge's inference jobs take, the edge runs them in batches of
// up to offload.batch_max. Runs DURATION_S seconds, then prints one JSON object:
//   {"sent", "ok", "errors": {code: n}, "lost", "replies_per_s", "width", "height"}
// A request not answered within 10 s is counted lost and replaced.
//
// Usage: offload_driver HOST PORT DURATION_S IN_FLIGHT WIDTH HEIGHT
//
// Threads: libmosquitto's network thread runs on_message; the main thread publishes.
// Both touch State under its mutex only.
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Set by SIGTERM/SIGINT: stop sending, report and exit.
std::atomic<bool> g_stop{false};
void request_stop(int) {
    g_stop = true;
}

using Clock = std::chrono::steady_clock;

struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool connected = false;
    bool subscribed = false;
    std::map<std::string, Clock::time_point> outstanding; // task id -> send time
    long ok = 0;
    std::map<std::string, long> errors; // error code -> replies
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

// The reply's error code, or "" for an ok reply (a substring test is enough: the agent
// writes compact JSON, docs/mqtt.md "Reply").
std::string error_code(const std::string &reply) {
    if (reply.find("\"ok\":true") != std::string::npos)
        return "";
    const std::string key = "\"code\":\"";
    auto at = reply.find(key);
    if (at == std::string::npos)
        return "unparsed";
    at += key.size();
    return reply.substr(at, reply.find('"', at) - at);
}

void on_message(mosquitto *, void *obj, const mosquitto_message *msg,
                const mosquitto_property *props) {
    auto *s = static_cast<State *>(obj);
    void *data = nullptr;
    uint16_t len = 0;
    if (!mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false))
        return;
    std::string task_id(static_cast<char *>(data), len);
    free(data);
    const std::string code =
        error_code(std::string(static_cast<const char *>(msg->payload), msg->payloadlen));
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->outstanding.erase(task_id) == 0)
        return; // already counted lost
    if (code.empty())
        ++s->ok;
    else
        ++s->errors[code];
    s->cv.notify_all();
}

// TDI1 | header length (uint32 big-endian) | header JSON | pixels.
std::string encode_request(const std::string &task_id, const std::string &pixels, int width,
                           int height) {
    const std::string header = "{\"v\":1,\"task_id\":\"" + task_id +
                               "\",\"device_id\":\"bench-driver\",\"model\":\"\","
                               "\"format\":\"bgr8\",\"width\":" +
                               std::to_string(width) + ",\"height\":" + std::to_string(height) +
                               ",\"budget_ms\":30000}";
    std::string out = "TDI1";
    const auto n = static_cast<uint32_t>(header.size());
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((n >> shift) & 0xff));
    out += header;
    out += pixels;
    return out;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: %s HOST PORT DURATION_S IN_FLIGHT WIDTH HEIGHT\n", argv[0]);
        return 2;
    }
    const std::string host = argv[1];
    const int port = std::atoi(argv[2]);
    const double duration_s = std::atof(argv[3]);
    const size_t in_flight = static_cast<size_t>(std::atoi(argv[4]));
    const int width = std::atoi(argv[5]), height = std::atoi(argv[6]);
    // A frame with some structure (not all zeros), the same for every request.
    std::string pixels(static_cast<size_t>(width) * height * 3, '\0');
    for (size_t i = 0; i < pixels.size(); ++i)
        pixels[i] = static_cast<char>((i * 7 + i / 1920) & 0xff);

    std::signal(SIGTERM, request_stop);
    std::signal(SIGINT, request_stop);
    mosquitto_lib_init();
    State state;
    const std::string client_id = "bench-driver-" + std::to_string(getpid());
    mosquitto *m = mosquitto_new(client_id.c_str(), true, &state);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_message_v5_callback_set(m, on_message);
    if (mosquitto_connect(m, host.c_str(), port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
        std::fprintf(stderr, "cannot connect to %s:%d\n", host.c_str(), port);
        return 1;
    }
    const std::string reply_topic = "bench/driver/" + client_id,
                      req_topic = "tierd/v1/offload/edge/req";
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

    long sent = 0, lost = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(duration_s);
    std::unique_lock<std::mutex> lock(state.mu);
    while (Clock::now() < end && !g_stop) {
        const auto now = Clock::now();
        for (auto it = state.outstanding.begin(); it != state.outstanding.end();) {
            if (now - it->second > std::chrono::seconds(10)) {
                it = state.outstanding.erase(it);
                ++lost;
            } else {
                ++it;
            }
        }
        while (state.outstanding.size() < in_flight) {
            const std::string task_id = "frame-" + std::to_string(sent++);
            state.outstanding[task_id] = Clock::now();
            const std::string payload = encode_request(task_id, pixels, width, height);
            lock.unlock();
            mosquitto_property *props = nullptr;
            mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply_topic.c_str());
            mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, task_id.data(),
                                          static_cast<uint16_t>(task_id.size()));
            // QoS 0, as ends send requests (docs/mqtt.md "Budget and delivery").
            mosquitto_publish_v5(m, nullptr, req_topic.c_str(), static_cast<int>(payload.size()),
                                 payload.data(), 0, false, props);
            mosquitto_property_free_all(&props);
            lock.lock();
        }
        state.cv.wait_for(lock, std::chrono::milliseconds(100));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const long answered = state.ok + [&] {
        long n = 0;
        for (const auto &[code, count] : state.errors)
            n += count;
        return n;
    }();
    std::string errors = "{";
    for (const auto &[code, count] : state.errors)
        errors += (errors.size() > 1 ? ", \"" : "\"") + code + "\": " + std::to_string(count);
    errors += "}";
    std::printf("{\"sent\": %ld, \"ok\": %ld, \"errors\": %s, \"lost\": %ld, "
                "\"replies_per_s\": %.1f, \"width\": %d, \"height\": %d}\n",
                sent, state.ok, errors.c_str(), lost, static_cast<double>(answered) / seconds,
                width, height);
    lock.unlock();
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
