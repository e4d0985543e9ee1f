#include "agent/core/mqtt_link.hpp"

#include "agent/loop/background_thread.hpp"
#include "common/mqtt5.hpp"

#include <mqtt_protocol.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace tierd {

namespace {
constexpr uint64_t kTickMs = 100; // mosquitto_loop_misc cadence: keepalive pings, retries

// mosquitto_lib_init/cleanup keep a plain reference count; a connect thread may drop the
// last handle (and its reference) while the loop makes a new link.
std::mutex g_library_mutex;
// libmosquitto sets its TLS globals up lazily, unguarded, inside the first TLS connect
// (net__init_tls: the SSL ex-data index its certificate check reads). Two links may
// connect at once only briefly (a stopped link's call still running while its successor
// starts), but then their calls must not overlap.
std::mutex g_connect_mutex;

// libmosquitto's error lines carry what its return codes do not: OpenSSL's reason for a
// failed handshake ("certificate verify failed", "tlsv13 alert certificate required").
// Where a LineCapture is active on this thread they are collected for the link to log
// with the failure they explain (or to fold into a reminder); elsewhere logged at once.
thread_local std::vector<std::string> *t_captured_lines = nullptr;

class LineCapture {
  public:
    explicit LineCapture(std::vector<std::string> &into)
        : previous_(std::exchange(t_captured_lines, &into)) {}
    ~LineCapture() { t_captured_lines = previous_; }
    LineCapture(const LineCapture &) = delete;
    LineCapture &operator=(const LineCapture &) = delete;

  private:
    std::vector<std::string> *previous_;
};

void on_mosquitto_log(mosquitto *, void *, int level, const char *line) {
    if (!(level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)))
        return;
    if (t_captured_lines) {
        if (t_captured_lines->size() < 16)
            t_captured_lines->emplace_back(line);
        return;
    }
    spdlog::warn("mqtt: libmosquitto: {}", line);
}

void log_lines(const std::vector<std::string> &lines) {
    for (const auto &line : lines)
        spdlog::warn("mqtt: libmosquitto: {}", line);
}

std::string errno_text(int err) {
    return std::generic_category().message(err);
}

constexpr const char *kTlsHint = "check mqtt.tls_ca_file, mqtt.tls_cert_file, "
                                 "mqtt.tls_key_file and that the broker's certificate "
                                 "names mqtt.host";
} // namespace

struct MqttLink::Client {
    mosquitto *mosq = nullptr;

    Client() {
        std::lock_guard<std::mutex> lock(g_library_mutex);
        mosquitto_lib_init();
    }
    // Runs where the last owner lets go: the loop, or a connect thread that outlived its
    // link. mosquitto_destroy invokes no callback.
    ~Client() {
        if (mosq)
            mosquitto_destroy(mosq);
        std::lock_guard<std::mutex> lock(g_library_mutex);
        mosquitto_lib_cleanup();
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
};

// One connect call. The connector thread owns `client->mosq` from its start until it sets
// `finished`; the loop does not touch the handle meanwhile. `mutex` orders the hand-back:
// the loop reads the outcome only after seeing `finished` under it.
struct MqttLink::ConnectAttempt {
    std::shared_ptr<Client> client;
    std::string host;
    int port = 0;
    int keepalive_s = 0;

    // The outcome, written by the connector thread before `finished`.
    bool resolved = false;          // getaddrinfo answered for `host`
    int rc = MOSQ_ERR_SUCCESS;      // mosquitto_connect_async's, or MOSQ_ERR_EAI
    std::string error;              // why it failed, in words
    std::vector<std::string> lines; // libmosquitto's log lines during the call

    std::mutex mutex;
    bool finished = false;      // guarded by mutex
    uv_async_t *wake = nullptr; // guarded by mutex; null once the link stopped waiting

    bool abandoned() {
        std::lock_guard<std::mutex> lock(mutex);
        return wake == nullptr;
    }

    // The connector thread's work. Nothing here logs (the agent may be exiting while a
    // resolver keeps this thread waiting); lines go back to the loop with the outcome.
    void run() {
        // The name is resolved first, alone: the resolver is what can hang, and it must
        // not hold g_connect_mutex while it does. libmosquitto resolves again in its
        // connect call (it takes only a name); that second answer comes from a resolver
        // that has just answered.
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo *found = nullptr;
        int gai = getaddrinfo(host.c_str(), nullptr, &hints, &found);
        if (gai != 0) {
            int err = errno;
            rc = MOSQ_ERR_EAI;
            error = gai == EAI_SYSTEM ? errno_text(err) : gai_strerror(gai);
        } else {
            freeaddrinfo(found);
            resolved = true;
            if (!abandoned()) {
                std::lock_guard<std::mutex> connect_lock(g_connect_mutex);
                LineCapture capture(lines);
                // connect_async (not reconnect_async) every time: it also sets the host,
                // port and keepalive, so a first call that failed early leaves nothing
                // half set. The TCP connect is non-blocking; TLS and CONNACK proceed on
                // the loop through the poll.
                rc = mosquitto_connect_async(client->mosq, host.c_str(), port, keepalive_s);
                int err = errno;
                if (rc == MOSQ_ERR_ERRNO)
                    error = errno_text(err);
                else if (rc == MOSQ_ERR_EAI)
                    error = gai_strerror(err); // libmosquitto leaves the EAI code in errno
                else
                    error = mosquitto_strerror(rc);
            }
        }
        std::lock_guard<std::mutex> lock(mutex);
        finished = true;
        if (wake)
            uv_async_send(wake);
    }
};

MqttLink::MqttLink(uv_loop_t *loop, MqttLinkOptions options)
    : loop_(loop), options_(std::move(options)), client_(std::make_shared<Client>()) {
    client_->mosq = mosquitto_new(options_.client_id.c_str(), true, this);
    mosq_ = client_->mosq;
    if (!mosq_)
        fail_construction("mqtt: libmosquitto could not create a client");
    // MQTT 5, TCP_NODELAY (replies are small packets right after a request's PUBACK),
    // credentials and TLS files: the same set-up tierctl uses (common/mqtt5).
    if (auto failed = mqtt5::configure_client(mosq_, {options_.username, options_.password,
                                                      options_.tls_ca_file, options_.tls_cert_file,
                                                      options_.tls_key_file}))
        fail_construction(failed->step == mqtt5::SetupFailure::Step::credentials
                              ? std::string("mqtt: username/password rejected: ") +
                                    mosquitto_strerror(failed->rc)
                              : std::string("mqtt: TLS setup failed (mqtt.tls_*): ") +
                                    mosquitto_strerror(failed->rc));
    mosquitto_connect_v5_callback_set(mosq_, &MqttLink::on_connect_cb);
    mosquitto_disconnect_v5_callback_set(mosq_, &MqttLink::on_disconnect_cb);
    mosquitto_message_v5_callback_set(mosq_, &MqttLink::on_message_cb);
    mosquitto_subscribe_v5_callback_set(mosq_, &MqttLink::on_subscribe_cb);
    mosquitto_log_callback_set(mosq_, &on_mosquitto_log);
    mosquitto_publish_v5_callback_set(mosq_, &MqttLink::on_publish_cb);
    if (!options_.will_topic.empty())
        mosquitto_will_set_v5(mosq_, options_.will_topic.c_str(),
                              static_cast<int>(options_.will_payload.size()),
                              options_.will_payload.data(), 1, true, nullptr);
    uv_timer_init(loop_, &tick_);
    tick_.data = this;
    uv_timer_init(loop_, &retry_);
    retry_.data = this;
    uv_async_init(loop_, &attempt_done_, &MqttLink::on_attempt_done);
    attempt_done_.data = this;
    // The tick timer keeps the loop alive while the link runs; the wake-up alone must not
    // (a stopped link's connect call may still be waiting for a resolver).
    uv_unref(reinterpret_cast<uv_handle_t *>(&attempt_done_));
    backoff_ms_ = options_.reconnect_min_ms;
}

// The destructor does not run for a throwing constructor: release what it made.
void MqttLink::fail_construction(const std::string &why) {
    client_.reset();
    mosq_ = nullptr;
    throw std::runtime_error(why);
}

MqttLink::~MqttLink() {
    // A connect call still running keeps its own reference to the handle and frees it
    // when it ends; it never touches this object.
    abandon_attempt();
    mosq_ = nullptr;
    client_.reset();
}

std::string MqttLink::endpoint() const {
    return options_.host + ":" + std::to_string(options_.port);
}

void MqttLink::start() {
    uv_timer_start(&tick_, &MqttLink::on_tick_cb, kTickMs, kTickMs);
    outage_began();
    try_connect();
}

void MqttLink::try_connect() {
    if (stopping_ || attempt_)
        return;
    auto attempt = std::make_shared<ConnectAttempt>();
    attempt->client = client_;
    attempt->host = options_.host;
    attempt->port = options_.port;
    attempt->keepalive_s = options_.keepalive_s;
    attempt->wake = &attempt_done_;
    attempt_ = attempt;
    try {
        std::thread([attempt] {
            run_in_background();
            attempt->run();
        }).detach();
    } catch (const std::system_error &e) {
        attempt_.reset();
        attempt_failed("connect",
                       fmt::format("mqtt: connect to {} failed: no thread for the connect "
                                   "call: {}; retrying",
                                   endpoint(), e.what()),
                       std::string("no thread for the connect call: ") + e.what(), {});
        schedule_retry();
    }
}

void MqttLink::on_attempt_done(uv_async_t *handle) {
    auto *self = static_cast<MqttLink *>(handle->data);
    std::shared_ptr<ConnectAttempt> attempt = self->attempt_;
    if (!attempt)
        return;
    {
        std::lock_guard<std::mutex> lock(attempt->mutex);
        if (!attempt->finished)
            return;
    }
    self->attempt_.reset(); // the handle is the loop's again
    self->finish_attempt(*attempt);
}

void MqttLink::finish_attempt(ConnectAttempt &attempt) {
    // What was published during the call goes to libmosquitto now, in order, as if
    // published right after it (queued until CONNACK, or for the next session).
    while (!held_.empty()) {
        HeldPublish h = std::move(held_.front());
        held_.pop_front();
        int rc = publish_now(h.topic, h.payload, h.qos, h.retain, h.correlation_data,
                             h.response_topic, nullptr);
        // MOSQ_ERR_NO_CONN: queued all the same (libmosquitto keeps QoS 1/2 messages for
        // the next session and says so).
        if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
            spdlog::warn("mqtt: a message for {} published while connecting was lost: {}", h.topic,
                         mosquitto_strerror(rc));
    }
    if (attempt.rc == MOSQ_ERR_SUCCESS || attempt.rc == MOSQ_ERR_CONN_PENDING) {
        log_lines(attempt.lines); // warnings of a call that went on (e.g. TCP_NODELAY)
        watch_socket();
        return;
    }
    if (!attempt.resolved)
        attempt_failed("resolve",
                       fmt::format("mqtt: cannot resolve mqtt.host \"{}\": {}; retrying",
                                   options_.host, attempt.error),
                       fmt::format("cannot resolve \"{}\": {}", options_.host, attempt.error),
                       std::move(attempt.lines));
    else
        connecting_failed(attempt.rc, attempt.error, std::move(attempt.lines));
    schedule_retry();
}

void MqttLink::abandon_attempt() {
    if (!attempt_)
        return;
    {
        std::lock_guard<std::mutex> lock(attempt_->mutex);
        attempt_->wake = nullptr;
    }
    attempt_.reset();
}

void MqttLink::watch_socket() {
    int fd = mosquitto_socket(mosq_);
    if (fd < 0) {
        schedule_retry();
        return;
    }
    if (polling_ && polled_fd_ != fd)
        unwatch_socket();
    if (!polling_) {
        // Data unacknowledged this long ends the connection (then it is made again): a
        // cut link is noticed in that time, and a new connection is not held back by
        // the old one's retransmission back-off once the link returns.
        if (options_.tcp_user_timeout_ms > 0) {
            const unsigned int timeout = static_cast<unsigned int>(options_.tcp_user_timeout_ms);
            if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout) != 0)
                spdlog::warn("mqtt: TCP_USER_TIMEOUT {} ms not set: {}", timeout,
                             std::strerror(errno));
        }
        uv_poll_init_socket(loop_, &poll_, fd);
        poll_.data = this;
        polling_ = true;
        polled_fd_ = fd;
    }
    update_poll_events();
}

void MqttLink::unwatch_socket() {
    if (!polling_)
        return;
    polling_ = false;
    polled_fd_ = -1;
    uv_poll_stop(&poll_);
    ++open_handles_;
    uv_close(reinterpret_cast<uv_handle_t *>(&poll_), &MqttLink::on_handle_closed);
}

// Handles are freed only after their close callback; stop() completes when the last
// one has closed.
void MqttLink::on_handle_closed(uv_handle_t *handle) {
    auto *self = static_cast<MqttLink *>(handle->data);
    if (--self->open_handles_ == 0 && self->stopping_ && self->stop_done_)
        self->stop_done_();
}

void MqttLink::update_poll_events() {
    if (!polling_)
        return;
    // libmosquitto closes its socket itself on some errors (keepalive expired in
    // loop_misc); libuv must never be asked to poll a closed descriptor.
    if (mosquitto_socket(mosq_) != polled_fd_)
        return;
    int events = UV_READABLE | (mosquitto_want_write(mosq_) ? UV_WRITABLE : 0);
    uv_poll_start(&poll_, events, &MqttLink::on_poll_cb);
}

void MqttLink::schedule_retry() {
    if (stopping_)
        return;
    unwatch_socket();
    // Full jitter keeps a fleet that lost its broker from reconnecting in lockstep.
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<int> jitter(backoff_ms_ / 2, backoff_ms_);
    uv_timer_start(&retry_, &MqttLink::on_retry_cb, static_cast<uint64_t>(jitter(rng)), 0);
    backoff_ms_ = std::min(backoff_ms_ * 2, options_.reconnect_max_ms);
}

void MqttLink::on_retry_cb(uv_timer_t *handle) {
    static_cast<MqttLink *>(handle->data)->try_connect();
}

void MqttLink::outage_began() {
    outage_since_ms_ = uv_now(loop_);
    outage_failures_ = 0;
    outage_reported_ = false;
    unreported_failures_ = 0;
    last_kind_.clear();
    latest_summary_.clear();
}

void MqttLink::attempt_failed(const std::string &kind, const std::string &line,
                              const std::string &summary, std::vector<std::string> details) {
    uint64_t now = uv_now(loop_);
    ++outage_failures_;
    std::string detailed = details.empty() ? summary : summary + ": " + details.back();
    if (!outage_reported_ || kind != last_kind_) {
        // The first failure of an outage, or a new kind of failure: said at once, whole.
        if (unreported_failures_ > 0)
            log_reminder(now);
        log_lines(details);
        spdlog::warn("{}", line);
        outage_reported_ = true;
        last_kind_ = kind;
        last_line_ms_ = now;
        unreported_failures_ = 0;
        latest_summary_ = detailed;
        return;
    }
    ++unreported_failures_;
    latest_summary_ = detailed;
    if (now - last_line_ms_ >= static_cast<uint64_t>(std::max(options_.failure_reminder_ms, 0)))
        log_reminder(now);
}

void MqttLink::log_reminder(uint64_t now_ms) {
    spdlog::warn("mqtt: still cannot connect to {}: {} more attempt{} failed in the last {} s "
                 "(latest: {}); retrying",
                 endpoint(), unreported_failures_, unreported_failures_ == 1 ? "" : "s",
                 (now_ms - last_line_ms_ + 500) / 1000, latest_summary_);
    last_line_ms_ = now_ms;
    unreported_failures_ = 0;
}

// An attempt that ended between the socket and the CONNACK: in the connect call (on the
// connector thread, which may get through a whole TLS 1.3 handshake when the broker is
// quick), in a read or write on the loop, or by the keepalive. The same words wherever.
void MqttLink::connecting_failed(int rc, const std::string &error,
                                 std::vector<std::string> details) {
    if (rc == MOSQ_ERR_TLS) {
        // The TLS files did not load or the handshake failed: OpenSSL's reason is in
        // libmosquitto's lines.
        attempt_failed(
            "connect",
            fmt::format("mqtt: TLS handshake with {} failed; {}; retrying", endpoint(), kTlsHint),
            "TLS handshake failed", std::move(details));
        return;
    }
    // With TLS 1.3 a broker that wants a client certificate (or does not trust ours)
    // only closes the connection after the handshake: say what to check.
    attempt_failed("connect",
                   fmt::format("mqtt: connecting to {} failed: {}{}; retrying", endpoint(), error,
                               options_.tls_ca_file.empty()
                                   ? ""
                                   : " (TLS: the broker closed the connection before "
                                     "accepting it; if it requires a client certificate, "
                                     "check mqtt.tls_cert_file and mqtt.tls_key_file)"),
                   "connecting failed: " + error, std::move(details));
}

void MqttLink::on_poll_cb(uv_poll_t *handle, int status, int events) {
    auto *self = static_cast<MqttLink *>(handle->data);
    bool was_connected = self->connected_; // false: still connecting (TLS, CONNECT/CONNACK)
    int rc = MOSQ_ERR_SUCCESS;
    std::vector<std::string> lines;
    {
        LineCapture capture(lines);
        if (status < 0)
            rc = MOSQ_ERR_CONN_LOST;
        if (rc == MOSQ_ERR_SUCCESS && (events & UV_READABLE))
            rc = mosquitto_loop_read(self->mosq_, 1);
        if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE))
            rc = mosquitto_loop_write(self->mosq_, 1);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        if (was_connected) {
            log_lines(lines);
            if (self->connected_) // else on_disconnect_cb has said it
                spdlog::warn("mqtt: connection lost: {}", mosquitto_strerror(rc));
            self->outage_began();
        } else if (self->refused_) {
            log_lines(lines); // the refusal was counted when the CONNACK came
        } else {
            self->connecting_failed(rc, mosquitto_strerror(rc), std::move(lines));
        }
        self->refused_ = false;
        self->connected_ = false;
        self->schedule_retry();
        return;
    }
    log_lines(lines);
    self->update_poll_events();
}

void MqttLink::on_tick_cb(uv_timer_t *handle) {
    auto *self = static_cast<MqttLink *>(handle->data);
    if (!self->polling_)
        return;
    std::vector<std::string> lines;
    int rc;
    {
        LineCapture capture(lines);
        rc = mosquitto_loop_misc(self->mosq_);
    }
    // A keepalive that ran out closes the socket inside loop_misc: stop polling it and
    // reconnect, as for a read or write error.
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(self->mosq_) != self->polled_fd_) {
        int why = rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_KEEPALIVE : rc;
        if (self->connected_) {
            log_lines(lines);
            spdlog::warn("mqtt: connection lost: {}", mosquitto_strerror(why));
            self->outage_began();
        } else if (!self->refused_) {
            // Connected at TCP level but no CONNACK within the keepalive.
            self->connecting_failed(why, mosquitto_strerror(why), std::move(lines));
        }
        self->refused_ = false;
        self->connected_ = false;
        self->schedule_retry();
        return;
    }
    log_lines(lines);
    self->update_poll_events();
}

void MqttLink::on_connect_cb(mosquitto *, void *obj, int rc, int, const mosquitto_property *props) {
    auto *self = static_cast<MqttLink *>(obj);
    // The broker's Receive Maximum: how many QoS 1/2 messages it takes in flight at once
    // (0 = it named none; libmosquitto then keeps its own default of 20).
    uint16_t receive_maximum = 0;
    self->broker_receive_maximum_ =
        mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &receive_maximum, false)
            ? receive_maximum
            : 0;
    if (rc != 0) {
        bool credentials = rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD || rc == MQTT_RC_NOT_AUTHORIZED;
        std::vector<std::string> lines;
        if (t_captured_lines)
            lines = std::exchange(*t_captured_lines, {});
        self->attempt_failed(
            "refused:" + std::to_string(rc),
            fmt::format("mqtt: broker refused connection: {}{}", mosquitto_reason_string(rc),
                        credentials ? " (check mqtt.username and mqtt.password, or the client "
                                      "certificate the broker takes the user name from)"
                                    : ""),
            std::string("the broker refused: ") + mosquitto_reason_string(rc), std::move(lines));
        self->refused_ = true; // counted here, not again when the socket closes
        return;                // the broker closes the socket; the poll sees it and retries
    }
    if (self->outage_failures_ > 0)
        spdlog::info("mqtt: connected to {} after {} failed attempt{} in {} s", self->endpoint(),
                     self->outage_failures_, self->outage_failures_ == 1 ? "" : "s",
                     (uv_now(self->loop_) - self->outage_since_ms_ + 500) / 1000);
    else
        spdlog::info("mqtt: connected to {}", self->endpoint());
    self->outage_began();
    self->connected_ = true;
    self->backoff_ms_ = self->options_.reconnect_min_ms;
    self->unacked_subscriptions_.clear();
    for (const auto &[filter, qos] : self->subscriptions_) {
        int mid = 0;
        if (mosquitto_subscribe_v5(self->mosq_, &mid, filter.c_str(), qos, 0, nullptr) ==
            MOSQ_ERR_SUCCESS)
            self->unacked_subscriptions_.insert(mid);
    }
    if (self->on_connected)
        self->on_connected();
    if (self->unacked_subscriptions_.empty() && self->on_subscribed)
        self->on_subscribed();
    self->update_poll_events();
}

void MqttLink::on_subscribe_cb(mosquitto *, void *obj, int mid, int, const int *,
                               const mosquitto_property *) {
    auto *self = static_cast<MqttLink *>(obj);
    if (self->unacked_subscriptions_.erase(mid) == 1 && self->unacked_subscriptions_.empty() &&
        self->on_subscribed)
        self->on_subscribed();
}

void MqttLink::on_disconnect_cb(mosquitto *, void *obj, int rc, const mosquitto_property *) {
    auto *self = static_cast<MqttLink *>(obj);
    bool was_connected = self->connected_; // if not, on_poll_cb says why connecting failed
    self->connected_ = false;
    if (rc != 0 && !self->stopping_ && was_connected)
        spdlog::warn("mqtt: disconnected: {}", mosquitto_strerror(rc));
}

int MqttLink::publish(const std::string &topic, const std::string &payload, int qos, bool retain,
                      const std::string &correlation_data, const std::string &response_topic,
                      int *mid) {
    if (stopping_)
        return MOSQ_ERR_NO_CONN;
    if (attempt_) {
        // The connector thread holds the handle. Check now what libmosquitto would check
        // at once, so the caller still hears of a bad message.
        if (qos < 0 || qos > 2)
            return MOSQ_ERR_INVAL;
        if (qos == 0 || mid)
            return MOSQ_ERR_NO_CONN;
        if (mosquitto_validate_utf8(topic.c_str(), static_cast<int>(topic.size())) !=
            MOSQ_ERR_SUCCESS)
            return MOSQ_ERR_MALFORMED_UTF8;
        if (mosquitto_pub_topic_check(topic.c_str()) != MOSQ_ERR_SUCCESS)
            return MOSQ_ERR_INVAL;
        if (payload.size() > MQTT_MAX_PAYLOAD)
            return MOSQ_ERR_PAYLOAD_SIZE;
        held_.push_back({topic, payload, correlation_data, response_topic, qos, retain});
        return MOSQ_ERR_SUCCESS;
    }
    return publish_now(topic, payload, qos, retain, correlation_data, response_topic, mid);
}

int MqttLink::publish_now(const std::string &topic, const std::string &payload, int qos,
                          bool retain, const std::string &correlation_data,
                          const std::string &response_topic, int *mid) {
    mosquitto_property *props = nullptr;
    if (!response_topic.empty())
        mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic.c_str());
    if (!correlation_data.empty())
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation_data.data(),
                                      static_cast<uint16_t>(correlation_data.size()));
    int rc = mosquitto_publish_v5(mosq_, mid, topic.c_str(), static_cast<int>(payload.size()),
                                  payload.data(), qos, retain, props);
    mosquitto_property_free_all(&props);
    update_poll_events();
    return rc;
}

void MqttLink::subscribe(const std::string &topic_filter, int qos) {
    subscriptions_.emplace_back(topic_filter, qos);
    if (connected_)
        mosquitto_subscribe_v5(mosq_, nullptr, topic_filter.c_str(), qos, 0, nullptr);
}

void MqttLink::unsubscribe(const std::string &topic_filter) {
    std::erase_if(subscriptions_, [&](const auto &s) { return s.first == topic_filter; });
    if (connected_)
        mosquitto_unsubscribe_v5(mosq_, nullptr, topic_filter.c_str(), nullptr);
}

void MqttLink::on_message_cb(mosquitto *, void *obj, const mosquitto_message *message,
                             const mosquitto_property *props) {
    auto *self = static_cast<MqttLink *>(obj);
    if (!self->on_message)
        return;
    // Topic, payload, response topic and correlation data (common/mqtt5).
    const Message m = mqtt5::read_message(*message, props);
    // Handlers parse what any client may publish. An exception they let out would unwind
    // through libmosquitto's C frames (undefined behaviour; in practice the agent ends), so
    // it stops here: a handler bug, logged; the message is dropped and the agent serves on.
    try {
        self->on_message(m);
    } catch (const std::exception &e) {
        spdlog::error("mqtt: a message on {} was dropped: its handler failed: {}", m.topic,
                      e.what());
    } catch (...) {
        spdlog::error("mqtt: a message on {} was dropped: its handler failed", m.topic);
    }
}

void MqttLink::on_publish_cb(mosquitto *, void *obj, int mid, int reason,
                             const mosquitto_property *) {
    auto *self = static_cast<MqttLink *>(obj);
    if (self->on_published)
        self->on_published(mid, reason);
}

void MqttLink::stop(std::function<void()> done) {
    stopping_ = true;
    // A connect call in progress ends on its own thread; the handle is not the loop's.
    abandon_attempt();
    held_.clear();
    if (connected_) {
        mosquitto_disconnect_v5(mosq_, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
        // Flush the DISCONNECT (and anything queued before it) synchronously: the
        // socket is local and the loop is about to end.
        for (int i = 0; i < 10 && mosquitto_want_write(mosq_); ++i)
            mosquitto_loop_write(mosq_, 1);
    }
    connected_ = false;
    uv_timer_stop(&retry_);
    uv_timer_stop(&tick_);
    unwatch_socket();
    stop_done_ = std::move(done);
    open_handles_ += 3;
    uv_close(reinterpret_cast<uv_handle_t *>(&tick_), &MqttLink::on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t *>(&retry_), &MqttLink::on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t *>(&attempt_done_), &MqttLink::on_handle_closed);
}

} // namespace tierd
