#include "agent/core/plugin_runtime.hpp"
#include "common/topics.hpp"

#include "agent/core/status.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace tierd {

// ---- PluginBridge ------------------------------------------------------------------

PluginBridge::PluginBridge(uv_loop_t *loop, std::string device_id, std::shared_ptr<hal::Hal> hal,
                           Deliver deliver)
    : loop_(loop), deliver_(std::move(deliver)), device_id_(std::move(device_id)),
      hal_(std::move(hal)) {
    uv_async_init(loop_, &async_, &PluginBridge::on_async);
    async_.data = this;
}

PluginBridge::~PluginBridge() = default;

void PluginBridge::close() {
    {
        std::lock_guard lock(mutex_);
        if (!open_)
            return;
        open_ = false;
        queue_.clear();
    }
    uv_close(reinterpret_cast<uv_handle_t *>(&async_), nullptr);
}

void PluginBridge::set_hal(std::shared_ptr<hal::Hal> hal) {
    std::lock_guard lock(mutex_);
    hal_ = std::move(hal);
}

void PluginBridge::set_device_id(std::string device_id) {
    std::lock_guard lock(mutex_);
    device_id_ = std::move(device_id);
}

std::shared_ptr<hal::Hal> PluginBridge::hal() {
    std::lock_guard lock(mutex_);
    return hal_;
}

std::string PluginBridge::device_id() {
    std::lock_guard lock(mutex_);
    return device_id_;
}

int PluginBridge::queue_post(std::function<void()> fn) {
    {
        std::lock_guard lock(mutex_);
        if (!open_)
            return TIERD_EBUSY;
        queue_.push_back(std::move(fn));
    }
    uv_async_send(&async_); // coalesces; drain() takes everything queued
    return TIERD_OK;
}

int PluginBridge::queue_publish(std::string topic, std::string payload, int qos, bool retain) {
    return queue_post([this, topic = std::move(topic), payload = std::move(payload), qos, retain] {
        deliver_(topic, payload, qos, retain);
    });
}

void PluginBridge::on_async(uv_async_t *handle) {
    static_cast<PluginBridge *>(handle->data)->drain();
}

void PluginBridge::drain() {
    std::deque<std::function<void()>> batch;
    {
        std::lock_guard lock(mutex_);
        batch.swap(queue_);
    }
    for (auto &fn : batch) {
        try {
            fn();
        } catch (const std::exception &e) {
            spdlog::error("plugin callback posted to the loop threw: {}", e.what());
        } catch (...) {
            spdlog::error("plugin callback posted to the loop threw");
        }
    }
}

// ---- PluginBackend -----------------------------------------------------------------

PluginBackend::PluginBackend(std::shared_ptr<PluginBridge> bridge, std::string plugin_name)
    : bridge_(std::move(bridge)), plugin_name_(std::move(plugin_name)) {}

int PluginBackend::publish(const std::string &subtopic, std::string payload, int qos, bool retain) {
    return bridge_->queue_publish(
        topics::plugin_topic(bridge_->device_id(), plugin_name_, subtopic),
        std::move(payload), qos, retain);
}

void PluginBackend::close() {
    std::lock_guard lock(gate_->mutex);
    gate_->open = false;
}

int PluginBackend::post(std::function<void()> fn) {
    {
        std::lock_guard lock(gate_->mutex);
        if (!gate_->open)
            return TIERD_EBUSY;
    }
    return bridge_->queue_post([gate = gate_, fn = std::move(fn)] {
        // Holding the gate while the plugin's function runs: close() waits for it.
        std::lock_guard lock(gate->mutex);
        if (gate->open)
            fn();
    });
}

int PluginBackend::hal_json(const std::string &section, std::string &out) {
    auto hal = bridge_->hal();
    if (!hal)
        return TIERD_ENOTSUP;
    static const char *const sections[] = {"board", "cpu", "memory", "thermal",
                                           "power", "gpu", "all"};
    bool known = false;
    for (const char *s : sections)
        known = known || section == s;
    if (!known)
        return TIERD_ENOENT;
    out = hal->snapshot_json(section).dump();
    return TIERD_OK;
}

int PluginBackend::energy_read(tierd_energy_reading &out) {
    auto hal = bridge_->hal();
    if (!hal)
        return TIERD_ENOTSUP;
    auto reading = hal->read_energy();
    out.energy_j = reading.energy_j;
    out.power_w = reading.power_w;
    std::snprintf(out.source, sizeof out.source, "%s", reading.source.c_str());
    return TIERD_OK;
}

std::string PluginBackend::device_id() {
    return bridge_->device_id();
}

// ---- Running plugins -----------------------------------------------------------------

nlohmann::json RunningPlugin::to_json() const {
    const PluginDescriptor &d = instance->descriptor();
    return {{"name", d.name},
            {"kind", plugin_kind_name(d.kind)},
            {"version", d.version},
            {"abi", abi_version_string(d.abi_version)},
            {"description", d.description},
            {"path", path},
            {"slot", slot},
            {"instance", instance->name()},
            {"config", values.redacted_json()},
            {"metrics", instance->metrics().to_json()}};
}

namespace {

// Creates and starts an instance of `prepared`; on failure, the reason.
std::variant<RunningPlugin, std::string> start_instance(PreparedPlugin prepared,
                                                        const std::shared_ptr<PluginBridge> &bridge,
                                                        std::string slot, unsigned index) {
    const std::string name = prepared.library->descriptor().name;
    auto backend = std::make_shared<PluginBackend>(bridge, name);
    auto created = PluginInstance::create(prepared.library, prepared.values, *backend, index);
    if (!created.ok()) {
        std::string why = created.error; // library messages often end in a newline
        while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
            why.pop_back();
        return why;
    }
    auto started = created.instance->start();
    if (!started.ok())
        return created.instance->name() + ": start failed: " + started.to_string();
    RunningPlugin running;
    running.path = prepared.library->path();
    running.instance = std::shared_ptr<PluginInstance>(
        created.instance.release(), [backend](PluginInstance *instance) {
            backend->close();
            delete instance; // stop() and destroy(); the library may be unloaded after
        });
    running.slot = std::move(slot);
    running.values = std::move(prepared.values);
    return running;
}

} // namespace

PluginSetChange prepare_plugin_set(const Config &config, const std::vector<RunningSummary> &running,
                                   const std::shared_ptr<PluginBridge> &bridge, bool strict,
                                   unsigned &next_index) {
    return instantiate_plugin_set(plan_plugins(config), running, bridge, strict, next_index);
}

PluginSetChange instantiate_plugin_set(PluginPlan plan, const std::vector<RunningSummary> &running,
                                       const std::shared_ptr<PluginBridge> &bridge, bool strict,
                                       unsigned &next_index) {
    PluginSetChange change;
    change.errors = std::move(plan.errors);
    change.refused = std::move(plan.refused);
    for (const auto &warning : plan.warnings)
        spdlog::warn("{}", warning.to_string());
    if (!change.errors.empty() || (strict && !change.refused.empty()))
        return change;

    for (auto &prepared : plan.ready) {
        // Copies: `prepared` (and the library it holds) moves into start_instance.
        const std::string name = prepared.library->descriptor().name;
        const std::string slot = slot_for(prepared.library->descriptor().kind).key;
        const std::string path = prepared.library->path();
        bool same = false;
        for (const auto &r : running)
            same = same || (r.name == name && r.path == path && r.values == prepared.values);
        if (same) {
            change.kept.push_back(name);
            continue;
        }
        auto started = start_instance(std::move(prepared), bridge, slot, next_index++);
        if (auto *ok = std::get_if<RunningPlugin>(&started)) {
            change.created.push_back(std::move(*ok));
            continue;
        }
        change.refused.push_back({name, slot, path, std::get<std::string>(started)});
        if (strict) {
            change.created.clear(); // stop + destroy, here on the worker
            change.kept.clear();
            return change;
        }
    }
    return change;
}

SingleLoad load_one_plugin(const Config &config, const std::string &name,
                           const std::vector<tierd_plugin_kind> &taken,
                           const std::shared_ptr<PluginBridge> &bridge, unsigned index) {
    SingleLoad out;
    auto prepared = prepare_plugin(config, name);
    out.errors = std::move(prepared.errors);
    if (!prepared.plugin) {
        out.refusal = std::move(prepared.refusal);
        return out;
    }
    const tierd_plugin_kind kind = prepared.plugin->library->descriptor().kind;
    std::string slot = slot_for(kind).key;
    std::string path = prepared.plugin->library->path();
    if (kind == TIERD_KIND_SOURCE) {
        out.refusal = PluginRefusal{name, slot, path,
                                    "a source plugin is picked by the [source] table: set "
                                    "source.kind (set-config) instead of loading it"};
        return out;
    }
    if (std::find(taken.begin(), taken.end(), kind) != taken.end()) {
        out.slot_taken = true;
        out.refusal = PluginRefusal{name, slot, path,
                                    std::string("a ") + plugin_kind_name(kind) +
                                        " plugin is loaded; unload it first"};
        return out;
    }
    auto started = start_instance(std::move(*prepared.plugin), bridge, slot, index);
    if (auto *ok = std::get_if<RunningPlugin>(&started))
        out.plugin = std::move(*ok);
    else
        out.refusal = PluginRefusal{name, slot, path, std::get<std::string>(started)};
    return out;
}

} // namespace tierd
