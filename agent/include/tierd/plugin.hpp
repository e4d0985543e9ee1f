/*
 * tierd/plugin.hpp — a header-only C++17 helper over the C ABI in tierd/plugin.h.
 *
 * With it a plugin is one class and one macro:
 *
 *     class MyInference {
 *       public:
 *         static constexpr const char *name = "my-inference";        // [a-z0-9-]+
 *         static constexpr const char *version = "1.0.0";
 *         static constexpr const char *description = "one line";
 *         static constexpr const char *const backends[] = {"cpu", "cuda", nullptr};
 *         static constexpr tierd_config_key config_keys[] = {
 *             tierd::key_path("model", "", "ONNX file to load"),
 *             tierd::key_enum("backend", "cpu", backends, "where to run"),
 *         };
 *         MyInference(tierd::Host host, const tierd::Config &config);  // = create()
 *         int infer(const tierd_task &task, const char *model, tierd_inference_result &out);
 *         // optional: int start(); int reload(const tierd::Config &); void stop();
 *         // optional (ABI 1.3): worker ops that may run at once on one instance
 *         // static constexpr uint32_t max_concurrent_calls = 4;
 *     };
 *     TIERD_PLUGIN(MyInference, TIERD_KIND_INFERENCE)
 *
 * A source (ABI 1.3) has `int next(tierd_frame &out)` (pull: files, cameras) or
 * `int decode(const uint8_t *payload, size_t size, uint64_t max_pixels, tierd_frame &out)`
 * (messages), plus `void release(tierd_frame &frame)` and optionally
 * `const char *describe()`; tierd::set_frame_pixels() / release_frame_pixels() below
 * (or tierd::set_frame_mat() in plugin_opencv.hpp) hand pixels to the host and back.
 *
 * The macro defines the one exported symbol (tierd_plugin_entry) and a static descriptor
 * whose callbacks are trampolines into the class. No C++ exception ever crosses the ABI:
 *   - tierd::Error(code, message)  -> set_error(message), returns `code`
 *   - std::bad_alloc               -> set_error("out of memory"), TIERD_ENOMEM
 *   - any other std::exception e   -> set_error(e.what()), TIERD_EPLUGIN
 *   - anything else                -> set_error("unknown exception"), TIERD_EPLUGIN
 * An exception from stop() or destroy() (which return void) is logged at ERROR level.
 *
 * Build the plugin with -fvisibility=hidden -fvisibility-inlines-hidden: the entry is
 * the only symbol marked TIERD_PLUGIN_EXPORT, everything here is inline and stays hidden.
 * The threading and ownership rules are those of plugin.h; they are repeated at each
 * declaration below.
 */
#ifndef TIERD_PLUGIN_HPP
#define TIERD_PLUGIN_HPP

#include <tierd/plugin.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tierd {

/* ---- Errors ---------------------------------------------------------------------- */

/* Throw from any plugin method to return `code` (a TIERD_E* value) with `what()` as
 * the reason the host shows. Thrown by Config reads on a missing key or type mismatch. */
class Error : public std::runtime_error {
  public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

/* ---- Declared configuration keys --------------------------------------------------- */

/* constexpr builders for the entries of a plugin's `config_keys` table. All pointers
 * must be static (string literals, static arrays): the host keeps them until unload.
 * Defaults are written as in TOML, strings without quotes ("cpu", "", "0.15"). */
constexpr tierd_config_key key_bool(const char *name, const char *default_value, const char *doc,
                                    uint32_t flags = 0) {
    return tierd_config_key{sizeof(tierd_config_key),
                            flags,
                            name,
                            TIERD_CONFIG_BOOL,
                            default_value,
                            0.0,
                            0.0,
                            nullptr,
                            doc};
}

/* An int64 key with an enforced [min, max]. */
constexpr tierd_config_key key_int(const char *name, const char *default_value, double min,
                                   double max, const char *doc, uint32_t flags = 0) {
    return tierd_config_key{sizeof(tierd_config_key),
                            flags | TIERD_CONFIG_HAS_MIN | TIERD_CONFIG_HAS_MAX,
                            name,
                            TIERD_CONFIG_INT,
                            default_value,
                            min,
                            max,
                            nullptr,
                            doc};
}

/* A double key with an enforced [min, max]. */
constexpr tierd_config_key key_double(const char *name, const char *default_value, double min,
                                      double max, const char *doc, uint32_t flags = 0) {
    return tierd_config_key{sizeof(tierd_config_key),
                            flags | TIERD_CONFIG_HAS_MIN | TIERD_CONFIG_HAS_MAX,
                            name,
                            TIERD_CONFIG_DOUBLE,
                            default_value,
                            min,
                            max,
                            nullptr,
                            doc};
}

constexpr tierd_config_key key_string(const char *name, const char *default_value, const char *doc,
                                      uint32_t flags = 0) {
    return tierd_config_key{sizeof(tierd_config_key),
                            flags,
                            name,
                            TIERD_CONFIG_STRING,
                            default_value,
                            0.0,
                            0.0,
                            nullptr,
                            doc};
}

/* `choices`: a static, nullptr-terminated array; `default_value` must be among them. */
constexpr tierd_config_key key_enum(const char *name, const char *default_value,
                                    const char *const *choices, const char *doc,
                                    uint32_t flags = 0) {
    return tierd_config_key{sizeof(tierd_config_key),
                            flags,
                            name,
                            TIERD_CONFIG_ENUM,
                            default_value,
                            0.0,
                            0.0,
                            choices,
                            doc};
}

/* A file path; "" means unset. Add TIERD_CONFIG_MUST_EXIST to have the host check
 * that a non-empty value names a readable file. */
constexpr tierd_config_key key_path(const char *name, const char *default_value, const char *doc,
                                    uint32_t flags = 0) {
    return tierd_config_key{sizeof(tierd_config_key),
                            flags,
                            name,
                            TIERD_CONFIG_PATH,
                            default_value,
                            0.0,
                            0.0,
                            nullptr,
                            doc};
}

/* ---- Config: the resolved [plugin.<name>] table ----------------------------------- */

/* A view of the plugin's validated configuration. Every declared key is present (the
 * file's value or the declared default). Valid ONLY during the constructor (create())
 * or reload() it is passed to: read what you need there and keep copies, never the
 * Config itself. Reads throw tierd::Error: TIERD_ENOENT for an undeclared key,
 * TIERD_EINVAL for a type mismatch (STRING, ENUM and PATH keys read with get_string). */
class Config {
  public:
    Config(const tierd_host_services *services, const tierd_config *config) noexcept
        : services_(services), config_(config) {}

    bool get_bool(const char *key) const {
        int v = 0;
        check(services_ && services_->config_bool ? services_->config_bool(config_, key, &v)
                                                  : TIERD_ENOTSUP,
              key, "bool");
        return v != 0;
    }
    int64_t get_int(const char *key) const {
        int64_t v = 0;
        check(services_ && services_->config_int ? services_->config_int(config_, key, &v)
                                                 : TIERD_ENOTSUP,
              key, "int");
        return v;
    }
    double get_double(const char *key) const {
        double v = 0.0;
        check(services_ && services_->config_double ? services_->config_double(config_, key, &v)
                                                    : TIERD_ENOTSUP,
              key, "double");
        return v;
    }
    /* Returns a copy: the host's string is borrowed only for this call. */
    std::string get_string(const char *key) const {
        const char *v = nullptr;
        check(services_ && services_->config_string ? services_->config_string(config_, key, &v)
                                                    : TIERD_ENOTSUP,
              key, "string");
        return v ? std::string(v) : std::string();
    }

    const tierd_config *raw() const noexcept { return config_; }

  private:
    static void check(int rc, const char *key, const char *type) {
        if (rc == TIERD_OK)
            return;
        throw Error(rc, std::string("config key '") + (key ? key : "(null)") + "' (" + type +
                            "): " + tierd_strerror(rc));
    }
    const tierd_host_services *services_;
    const tierd_config *config_;
};

/* ---- Host: the services table, bound to one instance ------------------------------ */

/* A small copyable handle on the host's services for one instance. Valid from the
 * constructor until the instance is destroyed (the host keeps `host` and `services`
 * alive until destroy() returns), so a plugin may keep a copy as a member. Each method
 * says from which thread it may be called; a service the host does not provide (NULL
 * or beyond its table's struct_size) is a no-op or returns TIERD_ENOTSUP. */
class Host {
  public:
    Host(tierd_host *host, const tierd_host_services *services) noexcept
        : host_(host), services_(services) {}

    /* One log line, prefixed by the host with the instance name. Any thread; does not
     * block. The text is copied. */
    void log(tierd_log_level level, const std::string &message) const noexcept {
        if (has(&tierd_host_services::log))
            services_->log(host_, level, message.c_str());
    }
    void debug(const std::string &m) const noexcept { log(TIERD_LOG_DEBUG, m); }
    void info(const std::string &m) const noexcept { log(TIERD_LOG_INFO, m); }
    void warning(const std::string &m) const noexcept { log(TIERD_LOG_WARNING, m); }
    void error(const std::string &m) const noexcept { log(TIERD_LOG_ERROR, m); }

    /* Reason for the error the current callback is about to return (the trampolines
     * call this for exceptions). Any thread; the text is copied. */
    void set_error(const std::string &message) const noexcept {
        if (has(&tierd_host_services::set_error))
            services_->set_error(host_, message.c_str());
    }

    /* Metrics under the instance's name; `name` is [a-z0-9_]+. Any thread; no blocking. */
    void counter_add(const char *name, double delta) const noexcept {
        if (has(&tierd_host_services::counter_add))
            services_->counter_add(host_, name, delta);
    }
    void gauge_set(const char *name, double value) const noexcept {
        if (has(&tierd_host_services::gauge_set))
            services_->gauge_set(host_, name, value);
    }

    /* Nanosecond clocks: monotonic (durations) and UTC wall time. Any thread. Fall back
     * to std::chrono when the host has no such service. */
    uint64_t monotonic_ns() const noexcept {
        if (has(&tierd_host_services::monotonic_ns))
            return services_->monotonic_ns(host_);
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count());
    }
    uint64_t realtime_ns() const noexcept {
        if (has(&tierd_host_services::realtime_ns))
            return services_->realtime_ns(host_);
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
    }

    /* The HAL's view of `section` as JSON, copied into `json_out` (the host's buffer is
     * freed here). Worker threads only: it reads sysfs. */
    int hal_json(const char *section, std::string &json_out) const {
        if (!has(&tierd_host_services::hal_json))
            return TIERD_ENOTSUP;
        char *json = nullptr;
        int rc = services_->hal_json(host_, section, &json);
        if (rc == TIERD_OK && json != nullptr) {
            try {
                json_out.assign(json);
            } catch (...) {
                release(json);
                throw;
            }
        }
        release(json);
        return rc;
    }

    /* Read the device's energy counter into `out` (struct_size is set here). Worker
     * threads only: it reads sysfs. */
    int energy_read(tierd_energy_reading &out) const noexcept {
        out.struct_size = sizeof(tierd_energy_reading);
        if (!has(&tierd_host_services::energy_read))
            return TIERD_ENOTSUP;
        return services_->energy_read(host_, &out);
    }

    /* Publish on tierd/v1/dev/<id>/plugin/<plugin-name>/<subtopic>; both are copied
     * before returning, delivery happens later. qos 0..2. Any thread. */
    int publish(const char *subtopic, const void *payload, size_t payload_len, int qos = 0,
                bool retain = false) const noexcept {
        if (!has(&tierd_host_services::publish))
            return TIERD_ENOTSUP;
        return services_->publish(host_, subtopic, payload, payload_len, qos, retain ? 1 : 0);
    }
    int publish(const char *subtopic, const std::string &payload, int qos = 0,
                bool retain = false) const noexcept {
        return publish(subtopic, payload.data(), payload.size(), qos, retain);
    }

    /* Run fn(arg) on the loop thread soon (the only way back onto the loop from a
     * plugin-made thread). Any thread. TIERD_EBUSY while the host shuts down. */
    int post(void (*fn)(void *arg), void *arg) const noexcept {
        if (!has(&tierd_host_services::post))
            return TIERD_ENOTSUP;
        return services_->post(host_, fn, arg);
    }

    /* The ABI version negotiated for this plugin (0 without services). */
    uint32_t abi_version() const noexcept { return services_ ? services_->abi_version : 0; }

    /* How many worker threads the host calls worker-thread ops from (ABI 1.3); 0 when the
     * host does not say. */
    uint32_t worker_threads() const noexcept {
        if (services_ == nullptr ||
            services_->struct_size <
                offsetof(tierd_host_services, worker_threads) + sizeof(uint32_t))
            return 0;
        return services_->worker_threads;
    }

    tierd_host *raw_host() const noexcept { return host_; }
    const tierd_host_services *raw_services() const noexcept { return services_; }

  private:
    /* True when the host's table is long enough to hold `member` and it is set. */
    template <class M> bool has(M tierd_host_services::*member) const noexcept {
        if (services_ == nullptr)
            return false;
        const auto *base = reinterpret_cast<const unsigned char *>(services_);
        const auto *field = reinterpret_cast<const unsigned char *>(&(services_->*member));
        if (static_cast<size_t>(field - base) + sizeof(M) > services_->struct_size)
            return false;
        return services_->*member != nullptr;
    }
    void release(char *p) const noexcept {
        if (p != nullptr && has(&tierd_host_services::free))
            services_->free(p);
    }

    tierd_host *host_;
    const tierd_host_services *services_;
};

/* ---- Small helpers for filling host-owned results --------------------------------- */

/* Copy `text` into a fixed char field, truncating and always NUL-terminating. */
template <size_t N> void copy_string(char (&dst)[N], const char *text) noexcept {
    static_assert(N > 0, "empty destination");
    size_t n = 0;
    if (text != nullptr)
        for (; n + 1 < N && text[n] != '\0'; ++n)
            dst[n] = text[n];
    dst[n] = '\0';
}
template <size_t N> void copy_string(char (&dst)[N], const std::string &text) noexcept {
    copy_string(dst, text.c_str());
}

/* Write `count` values into a host buffer of `capacity` (the ERANGE rule of plugin.h):
 * copies what fits, sets *count_out = count, returns TIERD_ERANGE if not all fit. */
inline int write_values(float *buffer, uint32_t capacity, uint32_t *count_out, const float *values,
                        size_t count) noexcept {
    size_t fit = count < capacity ? count : capacity;
    if (buffer == nullptr)
        fit = 0;
    for (size_t i = 0; i < fit; ++i)
        buffer[i] = values[i];
    *count_out = static_cast<uint32_t>(count);
    return fit == count ? TIERD_OK : TIERD_ERANGE;
}
inline int write_scores(tierd_inference_result &out, const float *values, size_t count) noexcept {
    return write_values(out.scores, out.score_capacity, &out.score_count, values, count);
}
inline int write_features(tierd_preclass_result &out, const float *values, size_t count) noexcept {
    return write_values(out.features, out.feature_capacity, &out.feature_count, values, count);
}

/* ---- Sources: handing pixels to the host (ABI 1.3) ---------------------------------- */

/* Gives `out` the image in `pixels` (moved onto the heap; `height` rows of `width` x
 * channels bytes, no padding; channels 1 for GRAY8, 3 for BGR8/RGB8). The host reads them
 * until it calls release(); free them there with release_frame_pixels(). Throws
 * std::bad_alloc, or tierd::Error(TIERD_EINVAL) when the sizes disagree. */
inline void set_frame_pixels(tierd_frame &out, std::vector<uint8_t> &&pixels, int width, int height,
                             tierd_pixel_format format) {
    const size_t channels = format == TIERD_PIXEL_GRAY8 ? 1 : 3;
    if (width <= 0 || height <= 0 ||
        pixels.size() != static_cast<size_t>(width) * static_cast<size_t>(height) * channels)
        throw Error(TIERD_EINVAL, "frame pixels do not match width x height x channels");
    auto *owned = new std::vector<uint8_t>(std::move(pixels));
    out.owner = owned;
    out.image.struct_size = sizeof(tierd_image);
    out.image.format = format;
    out.image.width = width;
    out.image.height = height;
    out.image.stride_bytes = static_cast<int32_t>(static_cast<size_t>(width) * channels);
    out.image.data = owned->data();
}
/* Frees what set_frame_pixels() attached to `frame`. Any thread; does not block. */
inline void release_frame_pixels(tierd_frame &frame) noexcept {
    delete static_cast<std::vector<uint8_t> *>(frame.owner);
    frame.owner = nullptr;
    frame.image.data = nullptr;
}

/* ---- Trampolines (implementation detail) ------------------------------------------ */

namespace detail {

template <class...> using void_t = void;

template <class T, class = void> struct has_config_keys : std::false_type {};
template <class T>
struct has_config_keys<T, void_t<decltype(T::config_keys[0])>> : std::true_type {};

template <class T, class = void> struct has_start : std::false_type {};
template <class T>
struct has_start<T, void_t<decltype(std::declval<T &>().start())>> : std::true_type {};

template <class T, class = void> struct has_stop : std::false_type {};
template <class T>
struct has_stop<T, void_t<decltype(std::declval<T &>().stop())>> : std::true_type {};

template <class T, class = void> struct has_reload : std::false_type {};
template <class T>
struct has_reload<T, void_t<decltype(std::declval<T &>().reload(std::declval<const Config &>()))>>
    : std::true_type {};

template <class T, class = void> struct has_decide : std::false_type {};
template <class T>
struct has_decide<
    T, std::enable_if_t<std::is_convertible<
           decltype(std::declval<T &>().decide(
               std::declval<const tierd_task &>(), std::declval<const tierd_preclass_result *>(),
               std::declval<const tierd_schedule_context &>(), std::declval<tierd_decision &>())),
           int>::value>> : std::true_type {};

template <class T, class = void> struct has_classify : std::false_type {};
template <class T>
struct has_classify<
    T, std::enable_if_t<std::is_convertible<decltype(std::declval<T &>().classify(
                                                std::declval<const tierd_task &>(),
                                                std::declval<tierd_preclass_result &>())),
                                            int>::value>> : std::true_type {};

template <class T, class = void> struct has_infer : std::false_type {};
template <class T>
struct has_infer<T, std::enable_if_t<std::is_convertible<
                        decltype(std::declval<T &>().infer(
                            std::declval<const tierd_task &>(), std::declval<const char *>(),
                            std::declval<tierd_inference_result &>())),
                        int>::value>> : std::true_type {};

template <class T, class = void> struct has_infer_batch : std::false_type {};
template <class T>
struct has_infer_batch<
    T, std::enable_if_t<std::is_convertible<
           decltype(std::declval<T &>().infer_batch(
               std::declval<const tierd_task *const *>(), std::declval<uint32_t>(),
               std::declval<const char *>(), std::declval<tierd_inference_result *>())),
           int>::value>> : std::true_type {};

// ABI 1.2 split execution: const char *describe(); int infer_head(const tierd_task &,
// const char *model, int32_t cut, tierd_tensor &out, tierd_inference_result &meta);
// int infer_tail(const tierd_task &, const char *model, int32_t cut, const tierd_tensor &,
// tierd_inference_result &out).
template <class T, class = void> struct has_describe : std::false_type {};
template <class T>
struct has_describe<T, std::enable_if_t<std::is_convertible<
                           decltype(std::declval<const T &>().describe()), const char *>::value>>
    : std::true_type {};

template <class T, class = void> struct has_infer_head : std::false_type {};
template <class T>
struct has_infer_head<T, std::enable_if_t<std::is_convertible<
                             decltype(std::declval<T &>().infer_head(
                                 std::declval<const tierd_task &>(), std::declval<const char *>(),
                                 std::declval<int32_t>(), std::declval<tierd_tensor &>(),
                                 std::declval<tierd_inference_result &>())),
                             int>::value>> : std::true_type {};

template <class T, class = void> struct has_infer_tail : std::false_type {};
template <class T>
struct has_infer_tail<T, std::enable_if_t<std::is_convertible<
                             decltype(std::declval<T &>().infer_tail(
                                 std::declval<const tierd_task &>(), std::declval<const char *>(),
                                 std::declval<int32_t>(), std::declval<const tierd_tensor &>(),
                                 std::declval<tierd_inference_result &>())),
                             int>::value>> : std::true_type {};

// Learning (ABI 1.5): int learn(const tierd_task &, const tierd_teacher_label &).
template <class T, class = void> struct has_learn : std::false_type {};
template <class T>
struct has_learn<
    T, std::enable_if_t<std::is_convertible<decltype(std::declval<T &>().learn(
                                                std::declval<const tierd_task &>(),
                                                std::declval<const tierd_teacher_label &>())),
                                            int>::value>> : std::true_type {};

// Sources (ABI 1.3).
template <class T, class = void> struct has_next : std::false_type {};
template <class T>
struct has_next<T,
                std::enable_if_t<std::is_convertible<
                    decltype(std::declval<T &>().next(std::declval<tierd_frame &>())), int>::value>>
    : std::true_type {};

template <class T, class = void> struct has_decode : std::false_type {};
template <class T>
struct has_decode<T, std::enable_if_t<std::is_convertible<
                         decltype(std::declval<T &>().decode(
                             std::declval<const uint8_t *>(), std::declval<size_t>(),
                             std::declval<uint64_t>(), std::declval<tierd_frame &>())),
                         int>::value>> : std::true_type {};

template <class T, class = void> struct has_release : std::false_type {};
template <class T>
struct has_release<T, void_t<decltype(std::declval<T &>().release(std::declval<tierd_frame &>()))>>
    : std::true_type {};

template <class T, class = void> struct has_max_concurrent_calls : std::false_type {};
template <class T>
struct has_max_concurrent_calls<T, void_t<decltype(T::max_concurrent_calls)>> : std::true_type {};

template <class T, class = void> struct has_fuse : std::false_type {};
template <class T>
struct has_fuse<
    T, std::enable_if_t<std::is_convertible<decltype(std::declval<T &>().fuse(
                                                std::declval<const tierd_task *>(),
                                                std::declval<const tierd_inference_result *>(),
                                                std::declval<const tierd_inference_result *>(),
                                                std::declval<tierd_inference_result &>())),
                                            int>::value>> : std::true_type {};

// Video fusion (ABI 1.4): int fuse_frame(const tierd_task &, const tierd_inference_result
// *local, const tierd_upstream_result *upstream, tierd_inference_result &out).
template <class T, class = void> struct has_fuse_frame : std::false_type {};
template <class T>
struct has_fuse_frame<
    T, std::enable_if_t<std::is_convertible<decltype(std::declval<T &>().fuse_frame(
                                                std::declval<const tierd_task &>(),
                                                std::declval<const tierd_inference_result *>(),
                                                std::declval<const tierd_upstream_result *>(),
                                                std::declval<tierd_inference_result &>())),
                                            int>::value>> : std::true_type {};

/* What the host's void* instance points at: the host handle (for set_error) and the
 * plugin object. */
template <class T> struct Box {
    Host host;
    T plugin;
    Box(Host h, const Config &config) : host(h), plugin(h, config) {}
};

/* Run `fn`, turning every exception into set_error + an error code. */
template <class F> int guarded(const Host &host, F &&fn) noexcept {
    try {
        return fn();
    } catch (const Error &e) {
        host.set_error(e.what());
        return e.code() < 0 ? e.code() : TIERD_EPLUGIN;
    } catch (const std::bad_alloc &) {
        host.set_error("out of memory");
        return TIERD_ENOMEM;
    } catch (const std::exception &e) {
        host.set_error(e.what());
        return TIERD_EPLUGIN;
    } catch (...) {
        host.set_error("unknown exception");
        return TIERD_EPLUGIN;
    }
}

/* For callbacks that return void: exceptions become an ERROR log line. */
template <class F> void guarded_void(const Host &host, const char *what, F &&fn) noexcept {
    try {
        fn();
    } catch (const std::exception &e) {
        host.error(std::string(what) + " failed: " + e.what());
    } catch (...) {
        host.error(std::string(what) + " failed: unknown exception");
    }
}

inline int invalid(const Host &host, const char *message) noexcept {
    host.set_error(message);
    return TIERD_EINVAL;
}

template <class T> struct Trampolines {
    static int create(tierd_host *host, const tierd_host_services *services,
                      const tierd_config *config, void **instance_out) noexcept {
        Host h(host, services);
        if (instance_out == nullptr)
            return invalid(h, "create: instance_out is NULL");
        *instance_out = nullptr;
        return guarded(h, [&]() -> int {
            Config c(services, config);
            *instance_out = new Box<T>(h, c);
            return TIERD_OK;
        });
    }
    static void destroy(void *instance) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (box == nullptr)
            return;
        Host h = box->host;
        guarded_void(h, "destroy", [&] { delete box; });
    }
    static int start(void *instance) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if constexpr (has_start<T>::value)
            return guarded(box->host, [&]() -> int { return box->plugin.start(); });
        else
            return TIERD_OK;
    }
    static int reload(void *instance, const tierd_config *config) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if constexpr (has_reload<T>::value)
            return guarded(box->host, [&]() -> int {
                return box->plugin.reload(Config(box->host.raw_services(), config));
            });
        else
            return TIERD_ENOTSUP;
    }
    static void stop(void *instance) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if constexpr (has_stop<T>::value)
            guarded_void(box->host, "stop", [&] { box->plugin.stop(); });
    }

    static int decide(void *instance, const tierd_task *task, const tierd_preclass_result *pre,
                      const tierd_schedule_context *context, tierd_decision *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (task == nullptr || context == nullptr || out == nullptr)
            return invalid(box->host, "decide: task, context and out must not be NULL");
        if (out->struct_size < sizeof(tierd_decision))
            return invalid(box->host, "decide: out->struct_size too small");
        return guarded(box->host,
                       [&]() -> int { return box->plugin.decide(*task, pre, *context, *out); });
    }
    static int classify(void *instance, const tierd_task *task,
                        tierd_preclass_result *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (task == nullptr || out == nullptr)
            return invalid(box->host, "classify: task and out must not be NULL");
        if (out->struct_size < sizeof(tierd_preclass_result))
            return invalid(box->host, "classify: out->struct_size too small");
        return guarded(box->host, [&]() -> int { return box->plugin.classify(*task, *out); });
    }
    static int infer(void *instance, const tierd_task *task, const char *model,
                     tierd_inference_result *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (task == nullptr || out == nullptr)
            return invalid(box->host, "infer: task and out must not be NULL");
        if (out->struct_size < sizeof(tierd_inference_result))
            return invalid(box->host, "infer: out->struct_size too small");
        return guarded(box->host, [&]() -> int { return box->plugin.infer(*task, model, *out); });
    }
    static int infer_batch(void *instance, const tierd_task *const *tasks, uint32_t count,
                           const char *model, tierd_inference_result *outs) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (tasks == nullptr || outs == nullptr || count == 0)
            return invalid(box->host, "infer_batch: tasks and outs must not be NULL, count > 0");
        for (uint32_t i = 0; i < count; ++i) {
            if (tasks[i] == nullptr)
                return invalid(box->host, "infer_batch: a task is NULL");
            if (outs[i].struct_size < sizeof(tierd_inference_result))
                return invalid(box->host, "infer_batch: an out->struct_size is too small");
        }
        if constexpr (has_infer_batch<T>::value)
            return guarded(box->host, [&]() -> int {
                return box->plugin.infer_batch(tasks, count, model, outs);
            });
        else
            return TIERD_ENOTSUP;
    }
    static const char *describe(void *instance) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if constexpr (has_describe<T>::value) {
            const char *text = nullptr;
            guarded(box->host, [&]() -> int {
                text = box->plugin.describe();
                return TIERD_OK;
            });
            return text;
        } else {
            return nullptr;
        }
    }
    static int infer_head(void *instance, const tierd_task *task, const char *model, int32_t cut,
                          tierd_tensor *out, tierd_inference_result *meta) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (task == nullptr || out == nullptr || meta == nullptr)
            return invalid(box->host, "infer_head: task, out and meta must not be NULL");
        if (out->struct_size < sizeof(tierd_tensor) ||
            meta->struct_size < sizeof(tierd_inference_result))
            return invalid(box->host, "infer_head: a struct_size is too small");
        if constexpr (has_infer_head<T>::value)
            return guarded(box->host, [&]() -> int {
                return box->plugin.infer_head(*task, model, cut, *out, *meta);
            });
        else
            return TIERD_ENOTSUP;
    }
    static int infer_tail(void *instance, const tierd_task *task, const char *model, int32_t cut,
                          const tierd_tensor *input, tierd_inference_result *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (task == nullptr || input == nullptr || out == nullptr)
            return invalid(box->host, "infer_tail: task, input and out must not be NULL");
        if (input->struct_size < sizeof(tierd_tensor) ||
            out->struct_size < sizeof(tierd_inference_result))
            return invalid(box->host, "infer_tail: a struct_size is too small");
        if constexpr (has_infer_tail<T>::value)
            return guarded(box->host, [&]() -> int {
                return box->plugin.infer_tail(*task, model, cut, *input, *out);
            });
        else
            return TIERD_ENOTSUP;
    }
    static int learn(void *instance, const tierd_task *task,
                     const tierd_teacher_label *label) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (task == nullptr || label == nullptr || label->answer == nullptr)
            return invalid(box->host, "learn: task, label and label->answer must not be NULL");
        if (label->struct_size < sizeof(tierd_teacher_label))
            return invalid(box->host, "learn: label->struct_size too small");
        if constexpr (has_learn<T>::value)
            return guarded(box->host, [&]() -> int { return box->plugin.learn(*task, *label); });
        else
            return TIERD_ENOTSUP;
    }
    static int next(void *instance, tierd_frame *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (out == nullptr || out->struct_size < sizeof(tierd_frame))
            return invalid(box->host, "next: out is NULL or its struct_size too small");
        if constexpr (has_next<T>::value)
            return guarded(box->host, [&]() -> int { return box->plugin.next(*out); });
        else
            return TIERD_ENOTSUP;
    }
    static int decode(void *instance, const uint8_t *payload, size_t size, uint64_t max_pixels,
                      tierd_frame *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (out == nullptr || out->struct_size < sizeof(tierd_frame))
            return invalid(box->host, "decode: out is NULL or its struct_size too small");
        if (payload == nullptr && size > 0)
            return invalid(box->host, "decode: payload is NULL");
        if constexpr (has_decode<T>::value)
            return guarded(box->host, [&]() -> int {
                return box->plugin.decode(payload, size, max_pixels, *out);
            });
        else
            return TIERD_ENOTSUP;
    }
    static void release(void *instance, tierd_frame *frame) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (frame == nullptr)
            return;
        if constexpr (has_release<T>::value)
            guarded_void(box->host, "release", [&] { box->plugin.release(*frame); });
    }
    static int fuse(void *instance, const tierd_task *task, const tierd_inference_result *local,
                    const tierd_inference_result *remote, tierd_inference_result *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (out == nullptr)
            return invalid(box->host, "fuse: out must not be NULL");
        if (out->struct_size < sizeof(tierd_inference_result))
            return invalid(box->host, "fuse: out->struct_size too small");
        return guarded(box->host,
                       [&]() -> int { return box->plugin.fuse(task, local, remote, *out); });
    }
    static int fuse_frame(void *instance, const tierd_task *task,
                          const tierd_inference_result *local,
                          const tierd_upstream_result *upstream,
                          tierd_inference_result *out) noexcept {
        auto *box = static_cast<Box<T> *>(instance);
        if (task == nullptr || out == nullptr)
            return invalid(box->host, "fuse_frame: task and out must not be NULL");
        if (out->struct_size < sizeof(tierd_inference_result))
            return invalid(box->host, "fuse_frame: out->struct_size too small");
        if constexpr (has_fuse_frame<T>::value)
            return guarded(box->host, [&]() -> int {
                return box->plugin.fuse_frame(*task, local, upstream, *out);
            });
        else
            return TIERD_ENOTSUP;
    }
};

template <class T, tierd_plugin_kind K> struct KindOps;
template <class T> struct KindOps<T, TIERD_KIND_SCHEDULER> {
    static_assert(has_decide<T>::value,
                  "a scheduler needs: int decide(const tierd_task &, const tierd_preclass_result "
                  "*, const tierd_schedule_context &, tierd_decision &)");
    static constexpr tierd_scheduler_ops table{sizeof(tierd_scheduler_ops),
                                               &Trampolines<T>::decide};
};
template <class T> struct KindOps<T, TIERD_KIND_PRECLASSIFIER> {
    static_assert(has_classify<T>::value,
                  "a pre-classifier needs: int classify(const tierd_task &, "
                  "tierd_preclass_result &)");
    static constexpr tierd_preclassifier_ops table{sizeof(tierd_preclassifier_ops),
                                                   &Trampolines<T>::classify};
};
template <class T> struct KindOps<T, TIERD_KIND_INFERENCE> {
    static_assert(has_infer<T>::value,
                  "an inference plugin needs: int infer(const tierd_task &, const char *model, "
                  "tierd_inference_result &)");
    // infer_batch is offered only when the plugin class has one (ABI 1.1):
    // int infer_batch(const tierd_task *const *, uint32_t, const char *model,
    //                 tierd_inference_result *outs)
    // describe/infer_head/infer_tail (ABI 1.2) and learn (1.5) likewise, each when the
    // class has it.
    static constexpr tierd_inference_ops table{
        sizeof(tierd_inference_ops),
        &Trampolines<T>::infer,
        has_infer_batch<T>::value ? &Trampolines<T>::infer_batch : nullptr,
        has_describe<T>::value ? &Trampolines<T>::describe : nullptr,
        has_infer_head<T>::value ? &Trampolines<T>::infer_head : nullptr,
        has_infer_tail<T>::value ? &Trampolines<T>::infer_tail : nullptr,
        has_learn<T>::value ? &Trampolines<T>::learn : nullptr};
};
template <class T> struct KindOps<T, TIERD_KIND_FUSION> {
    static_assert(has_fuse<T>::value,
                  "a fusion plugin needs: int fuse(const tierd_task *, const "
                  "tierd_inference_result *local, const tierd_inference_result *remote, "
                  "tierd_inference_result &out)");
    // fuse_frame (ABI 1.4) is offered only when the class has one.
    static constexpr tierd_fusion_ops table{sizeof(tierd_fusion_ops), &Trampolines<T>::fuse,
                                            has_fuse_frame<T>::value ? &Trampolines<T>::fuse_frame
                                                                     : nullptr};
};

template <class T> struct KindOps<T, TIERD_KIND_SOURCE> {
    static_assert(has_next<T>::value != has_decode<T>::value,
                  "a source needs exactly one of: int next(tierd_frame &) (pull) or int "
                  "decode(const uint8_t *, size_t, uint64_t max_pixels, tierd_frame &) (messages)");
    static_assert(has_release<T>::value, "a source needs: void release(tierd_frame &)");
    static constexpr tierd_source_ops table{
        sizeof(tierd_source_ops), has_next<T>::value ? &Trampolines<T>::next : nullptr,
        has_decode<T>::value ? &Trampolines<T>::decode : nullptr, &Trampolines<T>::release,
        has_describe<T>::value ? &Trampolines<T>::describe : nullptr};
};

template <class T> constexpr uint32_t max_concurrent_calls_of() {
    if constexpr (has_max_concurrent_calls<T>::value)
        return static_cast<uint32_t>(T::max_concurrent_calls);
    else
        return 1;
}

template <class T> constexpr const tierd_config_key *config_keys_of() {
    if constexpr (has_config_keys<T>::value)
        return T::config_keys;
    else
        return nullptr;
}
template <class T> constexpr uint32_t config_key_count_of() {
    if constexpr (has_config_keys<T>::value)
        return static_cast<uint32_t>(sizeof(T::config_keys) / sizeof(T::config_keys[0]));
    else
        return 0;
}

template <class T, tierd_plugin_kind K> struct Binding {
    static_assert(std::is_constructible<T, Host, const Config &>::value,
                  "the plugin class needs a constructor T(tierd::Host, const tierd::Config &)");
    static constexpr tierd_plugin_descriptor descriptor{
        sizeof(tierd_plugin_descriptor),
        TIERD_ABI_VERSION,
        K,
        T::name,
        T::version,
        T::description,
        config_keys_of<T>(),
        config_key_count_of<T>(),
        sizeof(tierd_config_key),
        &Trampolines<T>::create,
        has_start<T>::value ? &Trampolines<T>::start : nullptr,
        has_reload<T>::value ? &Trampolines<T>::reload : nullptr,
        has_stop<T>::value ? &Trampolines<T>::stop : nullptr,
        &Trampolines<T>::destroy,
        &KindOps<T, K>::table,
        {nullptr, nullptr, nullptr, nullptr},
        max_concurrent_calls_of<T>()};
};

/* The body of tierd_plugin_entry: pick the ABI version, hand out the static descriptor.
 * Does not block, allocate or throw. */
template <class T, tierd_plugin_kind K>
int entry(const tierd_host_offer *offer, const tierd_plugin_descriptor **descriptor_out) noexcept {
    if (descriptor_out == nullptr)
        return TIERD_EINVAL;
    if (tierd_pick_abi_version(offer) == 0)
        return TIERD_EVERSION;
    *descriptor_out = &Binding<T, K>::descriptor;
    return TIERD_OK;
}

} // namespace detail
} // namespace tierd

/* Define the plugin's one exported symbol for class `Class` of kind `Kind`
 * (TIERD_KIND_SCHEDULER, _PRECLASSIFIER, _INFERENCE, _FUSION or _SOURCE). Use once per .so, at
 * namespace scope, in one source file. */
#define TIERD_PLUGIN(Class, Kind)                                                                  \
    extern "C" TIERD_PLUGIN_EXPORT int tierd_plugin_entry(                                         \
        const tierd_host_offer *offer, const tierd_plugin_descriptor **descriptor_out);            \
    extern "C" TIERD_PLUGIN_EXPORT int tierd_plugin_entry(                                         \
        const tierd_host_offer *offer, const tierd_plugin_descriptor **descriptor_out) {           \
        return ::tierd::detail::entry<Class, Kind>(offer, descriptor_out);                         \
    }

#endif /* TIERD_PLUGIN_HPP */
