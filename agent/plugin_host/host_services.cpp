#include "agent/plugin_host/host_services.hpp"
#include "common/topics.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include <spdlog/spdlog.h>

#include "agent/plugin_host/host_handle.hpp"
#include "agent/plugin_host/plugin_config_values.hpp"

namespace tierd {
namespace {

// A runaway plugin message must not become a runaway log line or status field.
constexpr std::size_t kMaxMessage = 4096;

std::string bounded(const char *message) {
    if (message == nullptr)
        return {};
    return std::string(message, strnlen(message, kMaxMessage));
}

// No exception may cross into C: each service runs its body through this.
template <typename Fn> int guarded(tierd_host *host, const char *what, Fn &&fn) noexcept {
    try {
        return fn();
    } catch (const std::bad_alloc &) {
        return TIERD_ENOMEM;
    } catch (const std::exception &e) {
        try {
            spdlog::error("[{}] {} failed: {}", host != nullptr ? host->instance_name : "?", what,
                          e.what());
        } catch (...) {
        }
        return TIERD_EIO;
    } catch (...) {
        return TIERD_EIO;
    }
}

// `level` as the plugin's raw int (svc_log says why).
spdlog::level::level_enum to_spdlog(int level) {
    switch (level) {
    case TIERD_LOG_DEBUG: return spdlog::level::debug;
    case TIERD_LOG_INFO: return spdlog::level::info;
    case TIERD_LOG_WARNING: return spdlog::level::warn;
    case TIERD_LOG_ERROR: return spdlog::level::err;
    }
    return spdlog::level::info;
}

void svc_log(tierd_host *host, tierd_log_level level, const char *message) {
    if (host == nullptr)
        return;
    // A plugin may pass any int: loading one outside the enum's values as the enum is
    // undefined behaviour (UBSan caught it in the ASan test run), so read the raw bits.
    int raw = 0;
    static_assert(sizeof raw == sizeof level);
    std::memcpy(&raw, &level, sizeof raw);
    guarded(host, "log", [&] {
        spdlog::log(to_spdlog(raw), "[{}] {}", host->instance_name, bounded(message));
        return TIERD_OK;
    });
}

void svc_set_error(tierd_host *host, const char *message) {
    if (host == nullptr)
        return;
    guarded(host, "set_error", [&] {
        host->set_error(bounded(message));
        return TIERD_OK;
    });
}

void svc_counter_add(tierd_host *host, const char *name, double delta) {
    if (host == nullptr || name == nullptr)
        return;
    guarded(host, "counter_add", [&] {
        if (!host->metrics.counter_add(name, delta))
            spdlog::debug("[{}] counter_add(\"{}\", {}) ignored: bad name, value or too many "
                          "metrics",
                          host->instance_name, bounded(name), delta);
        return TIERD_OK;
    });
}

void svc_gauge_set(tierd_host *host, const char *name, double value) {
    if (host == nullptr || name == nullptr)
        return;
    guarded(host, "gauge_set", [&] {
        if (!host->metrics.gauge_set(name, value))
            spdlog::debug("[{}] gauge_set(\"{}\", {}) ignored: bad name, value or too many "
                          "metrics",
                          host->instance_name, bounded(name), value);
        return TIERD_OK;
    });
}

std::uint64_t svc_monotonic_ns(tierd_host *) {
    auto d = std::chrono::steady_clock::now().time_since_epoch();
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

std::uint64_t svc_realtime_ns(tierd_host *) {
    auto d = std::chrono::system_clock::now().time_since_epoch();
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

int svc_hal_json(tierd_host *host, const char *section, char **json_out) {
    if (json_out != nullptr)
        *json_out = nullptr;
    if (host == nullptr || section == nullptr || json_out == nullptr)
        return TIERD_EINVAL;
    return guarded(host, "hal_json", [&] {
        std::string json;
        const int rc = host->backend.hal_json(section, json);
        if (rc != TIERD_OK)
            return rc;
        // malloc, because the plugin gives it back through services->free (std::free).
        auto *copy = static_cast<char *>(std::malloc(json.size() + 1));
        if (copy == nullptr)
            return static_cast<int>(TIERD_ENOMEM);
        std::memcpy(copy, json.c_str(), json.size() + 1);
        *json_out = copy;
        return static_cast<int>(TIERD_OK);
    });
}

int svc_energy_read(tierd_host *host, tierd_energy_reading *out) {
    if (host == nullptr || out == nullptr || out->struct_size < sizeof(std::uint32_t))
        return TIERD_EINVAL;
    return guarded(host, "energy_read", [&] {
        tierd_energy_reading reading{};
        reading.struct_size = sizeof reading;
        reading.power_w = -1;
        const int rc = host->backend.energy_read(reading);
        if (rc != TIERD_OK)
            return rc;
        reading.source[sizeof reading.source - 1] = '\0';
        // Write only as far as the plugin's struct reaches; its struct_size stays its own.
        const std::uint32_t theirs = out->struct_size;
        std::memcpy(out, &reading, std::min<std::size_t>(theirs, sizeof reading));
        out->struct_size = theirs;
        return static_cast<int>(TIERD_OK);
    });
}

int svc_publish(tierd_host *host, const char *subtopic, const void *payload, size_t payload_len,
                int qos, int retain) {
    if (host == nullptr || subtopic == nullptr || (payload == nullptr && payload_len > 0) ||
        qos < 0 || qos > 2)
        return TIERD_EINVAL;
    return guarded(host, "publish", [&] {
        std::string topic(subtopic);
        // MQTT forbids wildcards in a publish topic; a leading or doubled '/' would give
        // the plugin a topic outside (or beside) its own subtree.
        if (!topics::is_plugin_subtopic(topic))
            return static_cast<int>(TIERD_EINVAL);
        std::string body(static_cast<const char *>(payload), payload_len);
        return host->backend.publish(topic, std::move(body), qos, retain != 0);
    });
}

int svc_post(tierd_host *host, void (*fn)(void *), void *arg) {
    if (host == nullptr || fn == nullptr)
        return TIERD_EINVAL;
    return guarded(host, "post", [&] { return host->backend.post([fn, arg] { fn(arg); }); });
}

void svc_free(void *ptr) {
    std::free(ptr);
}

// The entry for `key` if declared and of one of `types`; else the ABI's error code.
template <typename... Types>
int lookup(const tierd_config *config, const char *key, const tierd_config::Entry **out,
           Types... types) {
    if (config == nullptr || key == nullptr)
        return TIERD_EINVAL;
    const tierd_config::Entry *entry = config->find(key);
    if (entry == nullptr)
        return TIERD_ENOENT;
    if (((entry->type != types) && ...))
        return TIERD_EINVAL;
    *out = entry;
    return TIERD_OK;
}

int svc_config_bool(const tierd_config *config, const char *key, int *out) {
    const tierd_config::Entry *e = nullptr;
    if (out == nullptr)
        return TIERD_EINVAL;
    if (int rc = lookup(config, key, &e, TIERD_CONFIG_BOOL); rc != TIERD_OK)
        return rc;
    *out = std::get<bool>(e->value) ? 1 : 0;
    return TIERD_OK;
}

int svc_config_int(const tierd_config *config, const char *key, int64_t *out) {
    const tierd_config::Entry *e = nullptr;
    if (out == nullptr)
        return TIERD_EINVAL;
    if (int rc = lookup(config, key, &e, TIERD_CONFIG_INT); rc != TIERD_OK)
        return rc;
    *out = std::get<std::int64_t>(e->value);
    return TIERD_OK;
}

int svc_config_double(const tierd_config *config, const char *key, double *out) {
    const tierd_config::Entry *e = nullptr;
    if (out == nullptr)
        return TIERD_EINVAL;
    if (int rc = lookup(config, key, &e, TIERD_CONFIG_DOUBLE); rc != TIERD_OK)
        return rc;
    *out = std::get<double>(e->value);
    return TIERD_OK;
}

int svc_config_string(const tierd_config *config, const char *key, const char **out) {
    const tierd_config::Entry *e = nullptr;
    if (out == nullptr)
        return TIERD_EINVAL;
    if (int rc = lookup(config, key, &e, TIERD_CONFIG_STRING, TIERD_CONFIG_ENUM, TIERD_CONFIG_PATH);
        rc != TIERD_OK)
        return rc;
    // Borrowed: the string lives in the config the host keeps alive through the call.
    *out = std::get<std::string>(e->value).c_str();
    return TIERD_OK;
}

} // namespace

tierd_host_services make_host_services(std::uint32_t abi_version) {
    tierd_host_services s{};
    s.struct_size = sizeof s;
    s.abi_version = abi_version;
    s.log = svc_log;
    s.set_error = svc_set_error;
    s.counter_add = svc_counter_add;
    s.gauge_set = svc_gauge_set;
    s.monotonic_ns = svc_monotonic_ns;
    s.realtime_ns = svc_realtime_ns;
    s.hal_json = svc_hal_json;
    s.energy_read = svc_energy_read;
    s.publish = svc_publish;
    s.post = svc_post;
    s.free = svc_free;
    s.config_bool = svc_config_bool;
    s.config_int = svc_config_int;
    s.config_double = svc_config_double;
    s.config_string = svc_config_string;
    // libuv's pool runs every worker-thread op; main() sizes it through UV_THREADPOOL_SIZE
    // before its first use (libuv's default is 4).
    s.worker_threads = 4;
    if (const char *env = std::getenv("UV_THREADPOOL_SIZE"))
        if (const long n = std::strtol(env, nullptr, 10); n > 0 && n <= 1024)
            s.worker_threads = static_cast<std::uint32_t>(n);
    return s;
}

} // namespace tierd
