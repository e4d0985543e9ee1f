// MQTT 5 over libmosquitto, the parts that the agent's link (event-loop driven) and
// tierctl's broker session (a blocking client) both need: client setup, request/response
// properties (response topic, correlation data) on what is sent and received, reason-code
// and error texts, and a clean disconnect. Neither the loop nor the threading model is
// here: each caller drives its own client.
//
// Threads: the functions that take a `mosquitto *` are called from the thread that drives
// that client; the others are pure.
#pragma once

#include <mosquitto.h>

#include <optional>
#include <string>
#include <string_view>

namespace tierd::mqtt5 {

// mosquitto_lib_init() for as long as the object lives (libmosquitto counts the calls).
class Library {
  public:
    Library() { mosquitto_lib_init(); }
    ~Library() { mosquitto_lib_cleanup(); }
    Library(const Library &) = delete;
    Library &operator=(const Library &) = delete;
};

// Who the client is to the broker; "" = not used. The password is never logged here.
struct ClientSecurity {
    std::string username;
    std::string password;
    std::string tls_ca_file; // TLS is on when this is set
    std::string tls_cert_file;
    std::string tls_key_file;
};

// Which step of configure_client failed, and libmosquitto's code for it.
struct SetupFailure {
    enum class Step { credentials, tls } step;
    int rc;
};

// Makes `mosq` an MQTT 5 client with TCP_NODELAY (requests and replies are small packets;
// with Nagle's algorithm each would wait for the broker's delayed ACK, ~40 ms), then sets
// the credentials and TLS files. nullopt on success; the caller words the failure
// (mosquitto_strerror(rc)) in its own terms.
std::optional<SetupFailure> configure_client(mosquitto *mosq, const ClientSecurity &security);

// A received message with the MQTT 5 properties of a request (docs/mqtt.md, Commands).
struct ReceivedMessage {
    std::string topic;
    std::string payload;
    std::string response_topic;   // "" when the sender named none
    std::string correlation_data; // binary, "" when none
    int qos = 0;
    bool retained = false; // true for the retained messages sent on subscribe
};

// Copies what a v5 message callback receives (`props` may be null). Throws only
// std::bad_alloc.
ReceivedMessage read_message(const mosquitto_message &message, const mosquitto_property *props);

// mosquitto_publish_v5 with a response topic and correlation data when they are not
// empty. Returns a MOSQ_ERR_* code: MOSQ_ERR_INVAL without sending when the correlation
// data exceeds the 65,535 bytes MQTT allows, or the payload exceeds what libmosquitto
// takes; else what mosquitto_publish_v5 returns. `mid` may be null.
int publish(mosquitto *mosq, int *mid, const std::string &topic, std::string_view payload, int qos,
            bool retain, const std::string &response_topic = {},
            std::string_view correlation_data = {});

// True for an MQTT 5 reason code that refuses (>= 0x80), as in a SUBACK's granted QoS or
// a PUBACK's reason.
constexpr bool is_refusal(int reason_code) {
    return reason_code >= 0x80;
}

// The MQTT 5 reason code in words ("Not authorized", "Quota exceeded").
std::string reason_text(int reason_code);

// A libmosquitto return code in words; for MOSQ_ERR_ERRNO the system's reason for
// `saved_errno` (errno right after the failing call), for MOSQ_ERR_EAI "cannot resolve the
// host name".
std::string error_text(int rc, int saved_errno);

// Sends DISCONNECT (normal disconnection: the broker drops the session and does not
// publish the will) and flushes it and whatever was queued before it with up to
// `max_writes` socket writes; libmosquitto closes the socket right after the DISCONNECT
// is written. For a client about to be destroyed.
//
// Wait for the acknowledgements of QoS 1/2 publishes first (on_publish): a PUBACK that
// reaches the closed socket makes the kernel reset the connection, and the broker then
// loses the messages it had not read yet (tests/common: 2 of 5 QoS 1 messages published
// right before the disconnect arrived).
void disconnect_and_flush(mosquitto *mosq, int max_writes);

} // namespace tierd::mqtt5
