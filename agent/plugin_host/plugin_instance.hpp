// One running instance of a plugin: create → start → ops → stop → destroy, with typed
// wrappers that check the kind, serialize calls (the ABI promises a plugin no two calls
// into one instance at once, unless its descriptor allows max_concurrent_calls > 1 worker
// ops at a time: then up to that many run together) and pair every error code with the
// plugin's message.
#pragma once

#include <memory>
#include <mutex>
#include <semaphore>
#include <shared_mutex>
#include <string>
#include <vector>

#include <tierd/plugin.h>

#include "agent/plugin_host/host_backend.hpp"
#include "agent/plugin_host/host_handle.hpp"
#include "agent/plugin_host/plugin_config_values.hpp"
#include "agent/plugin_host/plugin_library.hpp"
#include "agent/plugin_host/plugin_metrics.hpp"

namespace tierd {

// A TIERD_E* code and the reason: the plugin's set_error() text, or the host's own when
// the host refused the call.
struct PluginCallResult {
    int code = TIERD_OK;
    std::string error;

    bool ok() const { return code == TIERD_OK; }
    // "TIERD_EIO (input/output error): <error>"
    std::string to_string() const;
};

class PluginInstance {
  public:
    struct CreateResult {
        std::unique_ptr<PluginInstance> instance; // null on failure
        int code = TIERD_OK;
        std::string error; // "<instance>: create failed: TIERD_E... (...): <plugin's reason>"
        bool ok() const { return instance != nullptr; }
    };

    // Calls the plugin's create() with `config` (validated for this plugin) and a
    // services table bound to a new tierd_host named "<plugin-name>.<index>". Worker
    // thread: create() may block.
    static CreateResult create(std::shared_ptr<PluginLibrary> library,
                               const PluginConfigValues &config, HostBackend &backend,
                               unsigned index = 0);

    // stop() if running, then destroy(). Worker thread; waits for an in-flight op.
    ~PluginInstance();
    PluginInstance(const PluginInstance &) = delete;
    PluginInstance &operator=(const PluginInstance &) = delete;

    // Once, after create. A plugin without start() just becomes running.
    PluginCallResult start();
    // Apply a new validated config; TIERD_ENOTSUP means "recreate the instance instead".
    PluginCallResult reload(const PluginConfigValues &config);
    // Once; afterwards every op answers TIERD_EBUSY. Waits for an in-flight op.
    void stop();

    // The kind's operation. Each answers TIERD_ENOTSUP for another kind and TIERD_EBUSY
    // unless running. Outputs follow plugin.h: `out` of decide() is zero-filled here;
    // the result structs keep the caller's buffers (scores/features and capacities), the
    // rest is reset. Fixed-size strings come back NUL-terminated, counts within capacity.
    PluginCallResult decide(const tierd_task &task, const tierd_preclass_result *pre,
                            const tierd_schedule_context &context, tierd_decision &out);
    PluginCallResult classify(const tierd_task &task, tierd_preclass_result &out);
    // `model` empty = the plugin's default.
    PluginCallResult infer(const tierd_task &task, const std::string &model,
                           tierd_inference_result &out);
    // Runs `model` on several tasks: one infer_batch() call when the plugin offers it
    // (ABI 1.1), else — or when that call fails — infer() per task. outs.size() must equal
    // tasks.size(); each out's scores buffer is the caller's, as for infer(). One result
    // per task; `batched` says whether one batch call answered them all.
    std::vector<PluginCallResult> infer_batch(const std::vector<const tierd_task *> &tasks,
                                              const std::string &model,
                                              std::vector<tierd_inference_result> &outs,
                                              bool *batched = nullptr);
    bool offers_batch() const;
    // ABI 1.2 split execution. describe(): the plugin's JSON (plugin.h), "" when it has
    // none. infer_head(): `out.data` is the caller's buffer of out.capacity floats;
    // ERANGE (with out.count = the floats needed) when it is too small.
    std::string describe();
    bool offers_split() const;
    PluginCallResult infer_head(const tierd_task &task, const std::string &model, int cut,
                                tierd_tensor &out, tierd_inference_result &meta);
    PluginCallResult infer_tail(const tierd_task &task, const std::string &model, int cut,
                                const tierd_tensor &input, tierd_inference_result &out);
    PluginCallResult fuse(const tierd_task &task, const tierd_inference_result *local,
                          const tierd_inference_result *remote, tierd_inference_result &out);
    // Learning (ABI 1.5): a teacher's label for `task` (worker thread). offers_learn():
    // the inference plugin has learn().
    bool offers_learn() const;
    // ... and takes a video key frame's boxes too (ABI 1.7: only a plugin that speaks 1.7
    // is handed them; an older learner reads `label` as a class).
    bool offers_learn_detections() const;
    PluginCallResult learn(const tierd_task &task, const tierd_teacher_label &label);
    // Video fusion (ABI 1.4): one frame of a stream, in order (worker thread; the caller
    // keeps a stream's frames in frame order and one at a time). offers_fuse_frame():
    // the plugin has it (else stream frames go through fuse()).
    bool offers_fuse_frame() const;
    PluginCallResult fuse_frame(const tierd_task &task, const tierd_inference_result *local,
                                const tierd_upstream_result *upstream, tierd_inference_result &out);

    // Sources (ABI 1.3). next(): a pull source's next frame (TIERD_EOF at the end).
    // decode(): a message source's frame from `payload`, refused (TIERD_ERANGE) when its
    // header says more than `max_pixels`. `out` is prepared here (zero-filled, label -1);
    // on TIERD_OK the caller owes exactly one release_frame(out). Worker thread.
    bool is_pull_source() const;
    PluginCallResult next(tierd_frame &out);
    PluginCallResult decode(const std::string &payload, std::uint64_t max_pixels, tierd_frame &out);
    // Hands a frame back to the plugin. Any thread; does not block (may run while another
    // thread is in next()/decode(), as plugin.h allows).
    void release_frame(tierd_frame &frame);
    // The source's one-line description; "" when it has none.
    std::string describe_source();
    // How many worker ops may run at once on this instance (descriptor, >= 1).
    unsigned max_concurrent_calls() const { return library_->descriptor().max_concurrent_calls; }

    const std::string &name() const { return host_->instance_name; }
    const PluginDescriptor &descriptor() const { return library_->descriptor(); }
    tierd_plugin_kind kind() const { return library_->descriptor().kind; }
    const PluginMetrics &metrics() const { return host_->metrics; }
    bool running() const;

  private:
    enum class State { created, running, stopped };

    PluginInstance(std::shared_ptr<PluginLibrary> library, HostBackend &backend, unsigned index);

    // Checks kind and state (caller holds call_mutex_); sets `refusal` when refused.
    bool may_call(tierd_plugin_kind kind, const char *op, PluginCallResult &refusal) const;
    // Held for the length of a worker-thread op: the exclusive lock for a plugin that
    // takes one call at a time, else a shared lock and one of max_concurrent_calls slots.
    class WorkerCall;
    // Pairs `code` with the plugin's message (taken from the error slot).
    PluginCallResult finish(int code);

    // Declared first so it is destroyed last: the .so outlives everything that points
    // into it.
    std::shared_ptr<PluginLibrary> library_;
    std::unique_ptr<tierd_host> host_; // stable address handed to the plugin
    tierd_host_services services_{};   // likewise: valid until destroy() returns
    void *state_ = nullptr;            // the plugin's instance pointer
    bool made_ = false;                // create() succeeded: destroy() is owed
    // Exclusive: lifecycle calls and every op of a one-call-at-a-time plugin. Shared:
    // the worker ops of a concurrent plugin, at most max_concurrent_calls of them (slots_).
    mutable std::shared_mutex call_mutex_;
    mutable std::counting_semaphore<1024> slots_;
    State lifecycle_ = State::created;
};

} // namespace tierd
