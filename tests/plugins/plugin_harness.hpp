// A tiny host for plugin tests: dlopens a built plugin .so, negotiates through its entry
// symbol, and drives create/ops/destroy with a services table implemented here. Config
// comes from the plugin's declared defaults, overridable per test.
#pragma once

#include <tierd/plugin.h>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

// The host's opaque types, as this test host defines them.
struct tierd_host {
    std::string name;
    std::vector<std::pair<tierd_log_level, std::string>> logs;
    std::string last_error;
    std::map<std::string, double> counters;
    std::map<std::string, double> gauges;
    std::vector<std::pair<std::string, std::string>> published;
    // energy_read: each call adds energy_step_j to the counter; fails when energy_fail.
    double energy_j = 100.0;
    double energy_step_j = 0.5;
    bool energy_fail = false;
    int energy_reads = 0;

    bool logged(const std::string &needle) const {
        for (const auto &l : logs)
            if (l.second.find(needle) != std::string::npos)
                return true;
        return false;
    }
};

struct tierd_config {
    struct Value {
        tierd_config_type type;
        std::string text;
    };
    std::map<std::string, Value> values;
};

namespace plugin_test {

inline int cfg_lookup(const tierd_config *config, const char *key, const tierd_config::Value **v) {
    if (config == nullptr || key == nullptr)
        return TIERD_EINVAL;
    auto it = config->values.find(key);
    if (it == config->values.end())
        return TIERD_ENOENT;
    *v = &it->second;
    return TIERD_OK;
}

inline const tierd_host_services *services() {
    static const tierd_host_services table = [] {
        tierd_host_services s{};
        s.struct_size = sizeof(tierd_host_services);
        s.abi_version = TIERD_ABI_VERSION;
        s.log = [](tierd_host *h, tierd_log_level level, const char *m) {
            h->logs.emplace_back(level, m ? m : "");
        };
        s.set_error = [](tierd_host *h, const char *m) { h->last_error = m ? m : ""; };
        s.counter_add = [](tierd_host *h, const char *n, double d) { h->counters[n] += d; };
        s.gauge_set = [](tierd_host *h, const char *n, double v) { h->gauges[n] = v; };
        s.monotonic_ns = [](tierd_host *) -> uint64_t {
            timespec ts{};
            clock_gettime(CLOCK_MONOTONIC, &ts);
            return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
                   static_cast<uint64_t>(ts.tv_nsec);
        };
        s.realtime_ns = [](tierd_host *) -> uint64_t {
            timespec ts{};
            clock_gettime(CLOCK_REALTIME, &ts);
            return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
                   static_cast<uint64_t>(ts.tv_nsec);
        };
        s.hal_json = [](tierd_host *, const char *, char **out) -> int {
            *out = strdup("{}");
            return TIERD_OK;
        };
        s.energy_read = [](tierd_host *h, tierd_energy_reading *out) -> int {
            ++h->energy_reads;
            if (h->energy_fail)
                return TIERD_EIO;
            h->energy_j += h->energy_step_j;
            out->energy_j = h->energy_j;
            out->power_w = 2.0;
            std::snprintf(out->source, sizeof out->source, "measured:test-sensor");
            return TIERD_OK;
        };
        s.publish = [](tierd_host *h, const char *sub, const void *p, size_t n, int,
                       int) -> int {
            h->published.emplace_back(sub, std::string(static_cast<const char *>(p), n));
            return TIERD_OK;
        };
        s.post = [](tierd_host *, void (*fn)(void *), void *arg) -> int {
            fn(arg);
            return TIERD_OK;
        };
        s.free = [](void *p) { std::free(p); };
        s.config_bool = [](const tierd_config *c, const char *k, int *out) -> int {
            const tierd_config::Value *v = nullptr;
            if (int rc = cfg_lookup(c, k, &v))
                return rc;
            if (v->type != TIERD_CONFIG_BOOL)
                return TIERD_EINVAL;
            *out = v->text == "true";
            return TIERD_OK;
        };
        s.config_int = [](const tierd_config *c, const char *k, int64_t *out) -> int {
            const tierd_config::Value *v = nullptr;
            if (int rc = cfg_lookup(c, k, &v))
                return rc;
            if (v->type != TIERD_CONFIG_INT)
                return TIERD_EINVAL;
            *out = std::stoll(v->text);
            return TIERD_OK;
        };
        s.config_double = [](const tierd_config *c, const char *k, double *out) -> int {
            const tierd_config::Value *v = nullptr;
            if (int rc = cfg_lookup(c, k, &v))
                return rc;
            if (v->type != TIERD_CONFIG_DOUBLE && v->type != TIERD_CONFIG_INT)
                return TIERD_EINVAL;
            *out = std::stod(v->text);
            return TIERD_OK;
        };
        s.config_string = [](const tierd_config *c, const char *k, const char **out) -> int {
            const tierd_config::Value *v = nullptr;
            if (int rc = cfg_lookup(c, k, &v))
                return rc;
            if (v->type != TIERD_CONFIG_STRING && v->type != TIERD_CONFIG_ENUM &&
                v->type != TIERD_CONFIG_PATH)
                return TIERD_EINVAL;
            *out = v->text.c_str();
            return TIERD_OK;
        };
        return s;
    }();
    return &table;
}

using Overrides = std::map<std::string, std::string>;

// One dlopened plugin library.
class Library {
  public:
    explicit Library(const char *path) : path_(path) {
        handle_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle_ == nullptr) {
            error_ = dlerror();
            return;
        }
        entry_ = reinterpret_cast<tierd_plugin_entry_fn>(dlsym(handle_, TIERD_PLUGIN_ENTRY_SYMBOL));
    }
    ~Library() {
        if (handle_ != nullptr)
            dlclose(handle_);
    }
    Library(const Library &) = delete;
    Library &operator=(const Library &) = delete;

    bool ok() const { return handle_ != nullptr && entry_ != nullptr; }
    const std::string &error() const { return error_; }
    void *handle() const { return handle_; }

    int negotiate(std::vector<uint32_t> versions, const tierd_plugin_descriptor **out) const {
        tierd_host_offer offer{sizeof(tierd_host_offer), static_cast<uint32_t>(versions.size()),
                               versions.data(), "test"};
        return entry_(&offer, out);
    }
    const tierd_plugin_descriptor *descriptor() const {
        const tierd_plugin_descriptor *d = nullptr;
        if (negotiate({TIERD_ABI_VERSION}, &d) != TIERD_OK)
            return nullptr;
        return d;
    }

  private:
    std::string path_;
    std::string error_;
    void *handle_ = nullptr;
    tierd_plugin_entry_fn entry_ = nullptr;
};

// The declared keys of `d` with their defaults, then `overrides` (which must name
// declared keys).
inline tierd_config make_config(const tierd_plugin_descriptor *d, const Overrides &overrides) {
    tierd_config config;
    for (uint32_t i = 0; i < d->config_key_count; ++i) {
        const auto *key = reinterpret_cast<const tierd_config_key *>(
            reinterpret_cast<const char *>(d->config_keys) + i * d->config_key_size);
        config.values[key->name] = {key->type, key->default_value ? key->default_value : ""};
    }
    for (const auto &[k, v] : overrides) {
        auto it = config.values.find(k);
        EXPECT_NE(it, config.values.end()) << "override of undeclared key " << k;
        if (it != config.values.end())
            it->second.text = v;
    }
    return config;
}

// One plugin instance with its own host object.
class Instance {
  public:
    Instance(const tierd_plugin_descriptor *d, const Overrides &overrides = {}) : d_(d) {
        host_.name = std::string(d->name) + ".0";
        tierd_config config = make_config(d, overrides);
        create_rc_ = d->create(&host_, services(), &config, &instance_);
    }
    ~Instance() {
        if (create_rc_ == TIERD_OK) {
            if (d_->stop)
                d_->stop(instance_);
            d_->destroy(instance_);
        }
    }
    Instance(const Instance &) = delete;
    Instance &operator=(const Instance &) = delete;

    int create_rc() const { return create_rc_; }
    void *get() const { return instance_; }
    tierd_host &host() { return host_; }
    template <class Ops> const Ops *ops() const { return static_cast<const Ops *>(d_->ops); }
    int reload(const Overrides &overrides) {
        tierd_config config = make_config(d_, overrides);
        return d_->reload ? d_->reload(instance_, &config) : TIERD_ENOTSUP;
    }

  private:
    const tierd_plugin_descriptor *d_;
    tierd_host host_;
    void *instance_ = nullptr;
    int create_rc_ = TIERD_EPLUGIN;
};

// A task around an image the test owns.
struct TaskImage {
    tierd_image image{};
    tierd_task task{};
    TaskImage(const std::vector<uint8_t> &pixels, int width, int height,
              tierd_pixel_format format) {
        int bpp = format == TIERD_PIXEL_GRAY8 ? 1 : 3;
        image = {sizeof(tierd_image), format, width, height, width * bpp, pixels.data()};
        task.struct_size = sizeof(tierd_task);
        task.task_id = "t1";
        task.source = "test";
        task.image = &image;
    }
};

} // namespace plugin_test
