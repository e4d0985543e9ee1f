#include "plugins/fusion-track/replay_host.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

// The host's opaque types, as this tool defines them.
struct tierd_host {
    std::string name;
    std::string last_error;
    std::map<std::string, double> counters;
    std::map<std::string, double> gauges;
};

struct tierd_config {
    struct Value {
        tierd_config_type type;
        std::string text;
    };
    std::map<std::string, Value> values;
};

namespace fusion_replay {

namespace {

uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

const tierd_config::Value *lookup(const tierd_config *config, const char *key) {
    if (config == nullptr || key == nullptr)
        return nullptr;
    auto it = config->values.find(key);
    return it == config->values.end() ? nullptr : &it->second;
}

const tierd_host_services &services() {
    static const tierd_host_services table = [] {
        tierd_host_services s{};
        s.struct_size = sizeof(tierd_host_services);
        s.abi_version = TIERD_ABI_VERSION;
        s.log = [](tierd_host *h, tierd_log_level level, const char *m) {
            if (level >= TIERD_LOG_WARNING)
                std::cerr << h->name << ": " << (m ? m : "") << "\n";
        };
        s.set_error = [](tierd_host *h, const char *m) { h->last_error = m ? m : ""; };
        s.counter_add = [](tierd_host *h, const char *n, double d) { h->counters[n] += d; };
        s.gauge_set = [](tierd_host *h, const char *n, double v) { h->gauges[n] = v; };
        s.monotonic_ns = [](tierd_host *) { return clock_ns(CLOCK_MONOTONIC); };
        s.realtime_ns = [](tierd_host *) { return clock_ns(CLOCK_REALTIME); };
        s.hal_json = [](tierd_host *, const char *, char **) -> int { return TIERD_ENOTSUP; };
        s.energy_read = [](tierd_host *, tierd_energy_reading *) -> int { return TIERD_ENOTSUP; };
        s.publish = [](tierd_host *, const char *, const void *, size_t, int, int) -> int {
            return TIERD_ENOTSUP;
        };
        s.post = [](tierd_host *, void (*fn)(void *), void *arg) -> int {
            fn(arg); // one thread: "soon" is now
            return TIERD_OK;
        };
        s.free = [](void *p) { std::free(p); };
        s.config_bool = [](const tierd_config *c, const char *k, int *out) -> int {
            const auto *v = lookup(c, k);
            if (v == nullptr)
                return TIERD_ENOENT;
            if (v->type != TIERD_CONFIG_BOOL)
                return TIERD_EINVAL;
            *out = v->text == "true";
            return TIERD_OK;
        };
        s.config_int = [](const tierd_config *c, const char *k, int64_t *out) -> int {
            const auto *v = lookup(c, k);
            if (v == nullptr)
                return TIERD_ENOENT;
            if (v->type != TIERD_CONFIG_INT)
                return TIERD_EINVAL;
            *out = std::stoll(v->text);
            return TIERD_OK;
        };
        s.config_double = [](const tierd_config *c, const char *k, double *out) -> int {
            const auto *v = lookup(c, k);
            if (v == nullptr)
                return TIERD_ENOENT;
            if (v->type != TIERD_CONFIG_DOUBLE && v->type != TIERD_CONFIG_INT)
                return TIERD_EINVAL;
            *out = std::stod(v->text);
            return TIERD_OK;
        };
        s.config_string = [](const tierd_config *c, const char *k, const char **out) -> int {
            const auto *v = lookup(c, k);
            if (v == nullptr)
                return TIERD_ENOENT;
            if (v->type != TIERD_CONFIG_STRING && v->type != TIERD_CONFIG_ENUM &&
                v->type != TIERD_CONFIG_PATH)
                return TIERD_EINVAL;
            *out = v->text.c_str();
            return TIERD_OK;
        };
        s.worker_threads = 1;
        return s;
    }();
    return table;
}

// Checks `text` against the declared key as the agent's config validation would.
void check_value(const tierd_config_key &key, const std::string &text) {
    const std::string where = std::string("--set ") + key.name + "=" + text + ": ";
    switch (key.type) {
    case TIERD_CONFIG_BOOL:
        if (text != "true" && text != "false")
            throw ReplayError(where + "expected true or false");
        return;
    case TIERD_CONFIG_INT:
    case TIERD_CONFIG_DOUBLE: {
        char *end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end == nullptr || *end != '\0')
            throw ReplayError(where + "expected a number");
        if (key.type == TIERD_CONFIG_INT && text.find_first_of(".eE") != std::string::npos)
            throw ReplayError(where + "expected an integer");
        if (((key.flags & TIERD_CONFIG_HAS_MIN) && v < key.min) ||
            ((key.flags & TIERD_CONFIG_HAS_MAX) && v > key.max))
            throw ReplayError(where + "out of range [" + std::to_string(key.min) + ", " +
                              std::to_string(key.max) + "]");
        return;
    }
    case TIERD_CONFIG_ENUM:
        for (const char *const *c = key.choices; c != nullptr && *c != nullptr; ++c)
            if (text == *c)
                return;
        throw ReplayError(where + "not one of the choices");
    default: return;
    }
}

} // namespace

struct PluginHost::State {
    tierd_host host;
};

PluginHost::PluginHost(const std::string &path,
                       const std::map<std::string, std::string> &overrides) {
    library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr)
        throw ReplayError(path + ": cannot be loaded: " + dlerror());
    auto entry =
        reinterpret_cast<tierd_plugin_entry_fn>(dlsym(library_, TIERD_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
        dlclose(library_);
        throw ReplayError(path + ": no " TIERD_PLUGIN_ENTRY_SYMBOL " symbol");
    }
    const uint32_t versions[] = {TIERD_ABI_VERSION};
    const tierd_host_offer offer{sizeof(tierd_host_offer), 1, versions, "fusion-replay"};
    if (entry(&offer, &descriptor_) != TIERD_OK || descriptor_ == nullptr ||
        descriptor_->kind != TIERD_KIND_FUSION) {
        dlclose(library_);
        throw ReplayError(path + ": not a fusion plugin of ABI " + std::to_string(TIERD_ABI_MAJOR) +
                          "." + std::to_string(TIERD_ABI_MINOR));
    }
    tierd_config config;
    for (uint32_t i = 0; i < descriptor_->config_key_count; ++i) {
        const auto *key = reinterpret_cast<const tierd_config_key *>(
            reinterpret_cast<const char *>(descriptor_->config_keys) +
            i * descriptor_->config_key_size);
        config.values[key->name] = {key->type, key->default_value ? key->default_value : ""};
    }
    for (const auto &[name, text] : overrides) {
        const tierd_config_key *declared = nullptr;
        for (uint32_t i = 0; i < descriptor_->config_key_count; ++i) {
            const auto *key = reinterpret_cast<const tierd_config_key *>(
                reinterpret_cast<const char *>(descriptor_->config_keys) +
                i * descriptor_->config_key_size);
            if (name == key->name)
                declared = key;
        }
        if (declared == nullptr) {
            dlclose(library_);
            throw ReplayError("--set " + name + ": " + descriptor_->name + " declares no such key");
        }
        try {
            check_value(*declared, text);
        } catch (...) {
            dlclose(library_);
            throw;
        }
        config.values[name].text = text;
    }
    state_ = new State;
    state_->host.name = std::string(descriptor_->name) + ".0";
    const int rc = descriptor_->create(&state_->host, &services(), &config, &instance_);
    if (rc != TIERD_OK) {
        const std::string reason = state_->host.last_error;
        delete state_;
        dlclose(library_);
        throw ReplayError(path + ": create failed: " + tierd_strerror(rc) +
                          (reason.empty() ? "" : ": " + reason));
    }
}

PluginHost::~PluginHost() {
    if (descriptor_->stop != nullptr)
        descriptor_->stop(instance_);
    descriptor_->destroy(instance_);
    delete state_;
    dlclose(library_);
}

const tierd_fusion_ops &PluginHost::fusion() const {
    return *static_cast<const tierd_fusion_ops *>(descriptor_->ops);
}

const std::string &PluginHost::last_error() const {
    return state_->host.last_error;
}
const std::map<std::string, double> &PluginHost::counters() const {
    return state_->host.counters;
}
const std::map<std::string, double> &PluginHost::gauges() const {
    return state_->host.gauges;
}

} // namespace fusion_replay
