#include "common/mqtt5.hpp"

#include <mqtt_protocol.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace tierd::mqtt5 {

namespace {

const char *or_null(const std::string &s) {
    return s.empty() ? nullptr : s.c_str();
}

// Owns a property list built for one publish.
struct PropertyList {
    mosquitto_property *head = nullptr;
    PropertyList() = default;
    PropertyList(const PropertyList &) = delete;
    PropertyList &operator=(const PropertyList &) = delete;
    ~PropertyList() { mosquitto_property_free_all(&head); }
};

} // namespace

std::optional<SetupFailure> configure_client(mosquitto *mosq, const ClientSecurity &security) {
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (!security.username.empty()) {
        int rc =
            mosquitto_username_pw_set(mosq, security.username.c_str(), or_null(security.password));
        if (rc != MOSQ_ERR_SUCCESS)
            return SetupFailure{SetupFailure::Step::credentials, rc};
    }
    if (!security.tls_ca_file.empty()) {
        int rc = mosquitto_tls_set(mosq, security.tls_ca_file.c_str(), nullptr,
                                   or_null(security.tls_cert_file), or_null(security.tls_key_file),
                                   nullptr);
        if (rc != MOSQ_ERR_SUCCESS)
            return SetupFailure{SetupFailure::Step::tls, rc};
    }
    return std::nullopt;
}

ReceivedMessage read_message(const mosquitto_message &message, const mosquitto_property *props) {
    ReceivedMessage m;
    if (message.topic != nullptr)
        m.topic = message.topic;
    if (message.payload != nullptr && message.payloadlen > 0)
        m.payload.assign(static_cast<const char *>(message.payload),
                         static_cast<std::size_t>(message.payloadlen));
    m.qos = message.qos;
    m.retained = message.retain;
    // libmosquitto allocates what it reads with malloc: freed here with free().
    char *response_topic = nullptr;
    if (mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false)) {
        std::unique_ptr<char, decltype(&std::free)> owned(response_topic, &std::free);
        m.response_topic = response_topic;
    }
    void *correlation = nullptr;
    uint16_t length = 0;
    if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &correlation, &length,
                                       false)) {
        std::unique_ptr<void, decltype(&std::free)> owned(correlation, &std::free);
        if (correlation != nullptr)
            m.correlation_data.assign(static_cast<const char *>(correlation), length);
    }
    return m;
}

int publish(mosquitto *mosq, int *mid, const std::string &topic, std::string_view payload, int qos,
            bool retain, const std::string &response_topic, std::string_view correlation_data) {
    if (correlation_data.size() > UINT16_MAX || payload.size() > static_cast<std::size_t>(INT_MAX))
        return MOSQ_ERR_INVAL;
    PropertyList props;
    if (!response_topic.empty()) {
        int rc = mosquitto_property_add_string(&props.head, MQTT_PROP_RESPONSE_TOPIC,
                                               response_topic.c_str());
        if (rc != MOSQ_ERR_SUCCESS)
            return rc;
    }
    if (!correlation_data.empty()) {
        int rc = mosquitto_property_add_binary(&props.head, MQTT_PROP_CORRELATION_DATA,
                                               correlation_data.data(),
                                               static_cast<uint16_t>(correlation_data.size()));
        if (rc != MOSQ_ERR_SUCCESS)
            return rc;
    }
    return mosquitto_publish_v5(mosq, mid, topic.c_str(), static_cast<int>(payload.size()),
                                payload.data(), qos, retain, props.head);
}

std::string reason_text(int reason_code) {
    return mosquitto_reason_string(reason_code);
}

std::string error_text(int rc, int saved_errno) {
    if (rc == MOSQ_ERR_ERRNO)
        return std::strerror(saved_errno);
    if (rc == MOSQ_ERR_EAI)
        return "cannot resolve the host name";
    return mosquitto_strerror(rc);
}

void disconnect_and_flush(mosquitto *mosq, int max_writes) {
    mosquitto_disconnect_v5(mosq, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
    for (int i = 0; i < max_writes && mosquitto_want_write(mosq); ++i)
        mosquitto_loop_write(mosq, 1);
}

} // namespace tierd::mqtt5
