// One loaded plugin .so: dlopen, version negotiation through tierd_plugin_entry, and a
// checked host-side copy of the descriptor. Everything that can be wrong with a plugin
// before it runs is reported here, as one line naming the file and the reason.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tierd/plugin.h>

#include "agent/plugin_host/plugin_config_key.hpp"

namespace tierd {

// The descriptor fields the host uses, copied out (strings included) after checking.
struct PluginDescriptor {
    std::uint32_t abi_version = 0; // the negotiated version
    tierd_plugin_kind kind = TIERD_KIND_SCHEDULER;
    std::string name;
    std::string version;
    std::string description;
    std::vector<PluginConfigKey> config_keys;
    // Worker-thread ops of one instance that may run at once (ABI 1.3); >= 1.
    std::uint32_t max_concurrent_calls = 1;
};

// The plugin's functions. create and destroy are always set; start/reload/stop may be
// NULL; the ops of the plugin's kind are set (required ones always, optional ones when
// the plugin offers them), every other kind's stay NULL.
struct PluginFunctions {
    decltype(tierd_plugin_descriptor::create) create = nullptr;
    decltype(tierd_plugin_descriptor::start) start = nullptr;
    decltype(tierd_plugin_descriptor::reload) reload = nullptr;
    decltype(tierd_plugin_descriptor::stop) stop = nullptr;
    decltype(tierd_plugin_descriptor::destroy) destroy = nullptr;
    decltype(tierd_scheduler_ops::decide) decide = nullptr;
    decltype(tierd_preclassifier_ops::classify) classify = nullptr;
    decltype(tierd_inference_ops::infer) infer = nullptr;
    decltype(tierd_inference_ops::infer_batch) infer_batch = nullptr; // optional (ABI 1.1)
    decltype(tierd_inference_ops::describe) describe = nullptr;       // optional (ABI 1.2)
    decltype(tierd_inference_ops::infer_head) infer_head = nullptr;   // optional (ABI 1.2)
    decltype(tierd_inference_ops::infer_tail) infer_tail = nullptr;   // optional (ABI 1.2)
    decltype(tierd_inference_ops::learn) learn = nullptr;             // optional (ABI 1.5)
    decltype(tierd_fusion_ops::fuse) fuse = nullptr;
    decltype(tierd_fusion_ops::fuse_frame) fuse_frame = nullptr; // optional (ABI 1.4)
    // Sources (ABI 1.3): release always; exactly one of next (pull) and decode (message).
    decltype(tierd_source_ops::next) next = nullptr;
    decltype(tierd_source_ops::decode) decode = nullptr;
    decltype(tierd_source_ops::release) release_frame = nullptr;
    decltype(tierd_source_ops::describe) describe_source = nullptr; // optional
};

class PluginLibrary {
  public:
    struct OpenResult {
        std::shared_ptr<PluginLibrary> library; // null on failure
        std::string error;                      // "<path>: <reason>" on failure
        bool ok() const { return library != nullptr; }
    };

    // Loads `path` with RTLD_NOW | RTLD_LOCAL (unresolved symbols fail now, not mid-run;
    // two plugins' symbols never clash) and negotiates the ABI. Worker thread: dlopen
    // runs the plugin's static constructors, which may block.
    static OpenResult open(const std::string &path);

    ~PluginLibrary(); // dlclose: every instance must be gone (they hold a shared_ptr)
    PluginLibrary(const PluginLibrary &) = delete;
    PluginLibrary &operator=(const PluginLibrary &) = delete;

    const std::string &path() const { return path_; }
    const PluginDescriptor &descriptor() const { return descriptor_; }
    const PluginFunctions &functions() const { return functions_; }

  private:
    PluginLibrary() = default;

    std::string path_;
    void *handle_ = nullptr;
    PluginDescriptor descriptor_;
    PluginFunctions functions_;
};

// The ABI versions this host offers, newest first.
const std::vector<std::uint32_t> &host_abi_versions();

// "1.0"
std::string abi_version_string(std::uint32_t version);

// "scheduler", "preclassifier", "inference", "fusion", "source"; "unknown" otherwise.
const char *plugin_kind_name(tierd_plugin_kind kind);

// The first `<dir>/<name>.so` that exists, in search-path order; nullopt when none does
// or `name` is not a plugin name ([a-z0-9-]+, so it cannot climb out of a directory).
std::optional<std::string> find_plugin(const std::string &name,
                                       const std::vector<std::string> &search_path);

} // namespace tierd
